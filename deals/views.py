"""HTML pages for staff. The page is a plain template; its script reads the JSON API."""

from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Deal, Stage
from .selectors import QUEUE_STAGES


def _is_staff(user) -> bool:
    return user.is_active and user.is_staff


# Anyone else goes to the login page (LOGIN_URL), which says when an account is not staff.
@user_passes_test(_is_staff)
def queue_page(request: HttpRequest) -> HttpResponse:
    """The live operator queue: deals moving through the pipeline, with a detail drawer."""
    return render(
        request,
        "deals/queue.html",
        {"statuses": Deal.Status.choices, "stages": Stage.choices, "queue_stages": QUEUE_STAGES},
    )
