"""POST /api/imports/ and GET /api/imports/{id}/: JSON or a file in, 202 with a status URL;
every bad input a 400 naming the problem, with nothing created."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hubspot.models import DealImport, DealImportItem

# Import jobs are recorded (run_jobs), never sent.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_jobs")]

URL = "/api/imports/"


def upload(name: str, content: str, content_type: str = "text/csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode(), content_type=content_type)


def test_json_ids_are_accepted_with_202_a_status_url_and_the_distinct_total(
    staff_client, run_jobs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            URL, {"hubspot_deal_ids": ["101", "0102", 103, "101"]}, content_type="application/json"
        )

    assert response.status_code == 202
    body = response.json()
    deal_import = DealImport.objects.get()
    assert body["id"] == str(deal_import.id) and body["total"] == 3
    assert body["status_url"].endswith(f"/api/imports/{deal_import.id}/")
    assert list(deal_import.items.values_list("hubspot_deal_id", flat=True)) == [
        "101",
        "102",
        "103",
    ]
    assert deal_import.created_by is not None
    assert deal_import.created_by.username == "operator"
    assert run_jobs == [str(deal_import.id)]


def test_a_csv_file_with_a_hubspot_deal_id_column_is_accepted(staff_client):
    csv = "name,hubspot_deal_id\nAcme,201\n\nGlobex, 202 \n"

    response = staff_client.post(URL, {"file": upload("ids.csv", csv)})

    assert response.status_code == 202, response.json()
    assert set(DealImportItem.objects.values_list("hubspot_deal_id", flat=True)) == {"201", "202"}


def test_a_json_array_file_is_accepted(staff_client):
    response = staff_client.post(
        URL, {"file": upload("ids.json", '["301", 302]', "application/json")}
    )

    assert response.status_code == 202
    assert response.json()["total"] == 2


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"hubspot_deal_ids": []}, "hubspot_deal_ids", "at least one"),
        ({"hubspot_deal_ids": [str(n) for n in range(1001)]}, "hubspot_deal_ids", "At most 1,000"),
        (
            {"hubspot_deal_ids": ["12", "abc", "4.5", "", None, "-3"]},
            "hubspot_deal_ids",
            "not valid: 'abc', '4.5', '', None, '-3'",
        ),
        ({"ids": ["1"]}, "hubspot_deal_ids", "Send"),
        (["1", "2"], "hubspot_deal_ids", "Send"),
    ],
)
def test_bad_json_input_is_a_400_naming_the_field(staff_client, data, field, words):
    response = staff_client.post(URL, data, content_type="application/json")

    assert response.status_code == 400
    assert words in response.json()[field][0]
    assert not DealImport.objects.exists()


def test_malformed_json_is_a_400(staff_client):
    response = staff_client.post(URL, '{"hubspot_deal_ids": [1,', content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not DealImport.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("ids.csv", "id,name\n1,Acme\n", "hubspot_deal_id column"),
        ("ids.csv", "", "empty"),
        ("ids.csv", "hubspot_deal_id\nabc\n12\n", "not valid: 'abc'"),
        ("ids.json", '["1", "2"', "not valid JSON"),
        ("ids.json", '{"ids": [1]}', "array of ids"),
        ("ids.csv", "hubspot_deal_id\n" + "\n".join(str(n) for n in range(1001)), "At most"),
    ],
)
def test_a_bad_file_is_a_400_naming_the_problem(staff_client, name, content, words):
    response = staff_client.post(URL, {"file": upload(name, content)})

    assert response.status_code == 400
    assert words in response.json()["file"][0]
    assert not DealImport.objects.exists()


def test_a_form_without_a_file_or_another_content_type_is_a_400(staff_client):
    no_file = staff_client.post(URL, {"hubspot_deal_ids": "1"})
    text = staff_client.post(URL, "1,2,3", content_type="text/plain")

    assert no_file.status_code == 400 and "file" in no_file.json()
    assert text.status_code == 400 and "Content-Type must be" in text.json()["detail"]
    assert not DealImport.objects.exists()


def test_imports_are_staff_only(client, django_user_model):
    anonymous = client.post(URL, {"hubspot_deal_ids": ["1"]}, content_type="application/json")
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))
    not_staff = client.post(URL, {"hubspot_deal_ids": ["1"]}, content_type="application/json")

    assert (anonymous.status_code, not_staff.status_code) == (401, 403)
    assert not DealImport.objects.exists()


def test_the_status_gives_totals_and_the_items_a_page_at_a_time(staff_client):
    created = staff_client.post(
        URL, {"hubspot_deal_ids": [str(n) for n in range(1, 8)]}, content_type="application/json"
    ).json()
    deal_import = DealImport.objects.get()
    DealImportItem.objects.filter(hubspot_deal_id__in=["1", "2"]).update(status="imported")
    DealImportItem.objects.filter(hubspot_deal_id="3").update(status="failed", error="boom")

    page = staff_client.get(created["status_url"], {"offset": 2, "limit": 3}).json()

    assert page["status"] == "queued" and page["id"] == str(deal_import.id)
    assert page["totals"] == {
        "total": 7,
        "done": 3,
        "imported": 2,
        "already_present": 0,
        "not_found": 0,
        "failed": 1,
    }
    assert (page["offset"], page["limit"]) == (2, 3)
    assert [item["hubspot_deal_id"] for item in page["items"]] == ["3", "4", "5"]
    assert page["items"][0] == {
        "hubspot_deal_id": "3",
        "status": "failed",
        "error": "boom",
        "deal_id": None,
        "merged_into": "",
    }


def test_the_status_of_an_unknown_import_is_404_and_bad_paging_400(staff_client):
    created = staff_client.post(
        URL, {"hubspot_deal_ids": ["1"]}, content_type="application/json"
    ).json()

    missing = staff_client.get(URL + "00000000-0000-0000-0000-000000000000/")
    bad = staff_client.get(created["status_url"], {"limit": 0})
    blank = staff_client.get(created["status_url"] + "?offset=")

    assert missing.status_code == 404
    assert bad.status_code == 400 and "limit" in bad.json()
    assert blank.status_code == 400 and list(blank.json()) == ["offset"]


def test_the_request_body_is_json_of_the_documented_shape(staff_client):
    body = json.dumps({"hubspot_deal_ids": ["9"]})

    response = staff_client.post(URL, body, content_type="application/json; charset=utf-8")

    assert response.status_code == 202
