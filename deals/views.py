"""HTML pages for staff. The page is a plain template; its script reads the JSON API."""

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Deal, Stage
from .selectors import QUEUE_STAGES


def staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff see the page; a visitor is sent to log in; a signed-in user who is not staff
    is told no (403), rather than sent round to a login form they already passed."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("This page is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


@staff_only
def queue_page(request: HttpRequest) -> HttpResponse:
    """The live operator queue: deals moving through the pipeline, with a detail drawer."""
    return render(
        request,
        "deals/queue.html",
        {"statuses": Deal.Status.choices, "stages": Stage.choices, "queue_stages": QUEUE_STAGES},
    )
