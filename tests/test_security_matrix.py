"""Who may use which URL: every route of the app's URL map, asked by every kind of user.

The table below is the declared policy. A route added to the app without a row
here fails ``test_the_table_covers_exactly_the_apps_routes``; so does a row left
behind for a route that no longer exists, or a URL argument name without a sample.
"""

from __future__ import annotations

import pytest

from webapp import _check_every_route_has_a_policy, create_app
from webapp.access import Access, allow
from webapp.db import connect_sync

from .conftest import make_settings
from .security_helpers import build_library, copy_library, signed_in

OK = "allowed"
LOGIN = "login redirect"
FORBIDDEN = "403"
NOT_FOUND = "404"

ROLES = (None, "student", "other_student", "librarian", "admin")

PUBLIC = (OK, OK, OK, OK, OK)
SIGNED_IN = (LOGIN, OK, OK, OK, OK)
STAFF = (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK)
ADMIN = (LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
# A URL naming Alice's own loan or hold through My account: only Alice may act
# on it; anyone else is told there is no such record (404), never that it exists.
ALICES_OWN = (LOGIN, OK, NOT_FOUND, NOT_FOUND, NOT_FOUND)
# A hold slip is printed for a hold on the hold shelf; the sample hold is still
# waiting, so staff are told there is no such slip, and nobody else sees one.
STAFF_READY_HOLD = (LOGIN, FORBIDDEN, FORBIDDEN, NOT_FOUND, NOT_FOUND)
# Covers are public, like book pages; the sample book has none, so it is a 404 for all.
PUBLIC_NO_COVER = (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND)
# A password link with a token nobody was sent, or single sign-on when it is not
# configured (as here): there is no such page, whoever asks.
NOWHERE = (NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND)

EXPECTED = {
    "static": PUBLIC,
    "catalogue.home": PUBLIC,
    "catalogue.search": PUBLIC,
    "catalogue.book": PUBLIC,
    "catalogue.series": PUBLIC,
    "system.healthz": PUBLIC,
    "system.prometheus_metrics": STAFF,
    "auth.login": PUBLIC,
    "auth.login_submit": PUBLIC,
    "auth.logout": PUBLIC,
    "circulation.account": SIGNED_IN,
    "circulation.account_renew": ALICES_OWN,
    "circulation.account_cancel_hold": ALICES_OWN,
    "circulation.place_hold": SIGNED_IN,
    "circulation.desk": STAFF,
    "circulation.desk_scan": STAFF,
    "circulation.desk_renew": STAFF,
    "circulation.desk_undo": STAFF,
    "circulation.desk_hold": STAFF,
    "circulation.desk_done": STAFF,
    "circulation.patron": STAFF,
    "circulation.patron_to_desk": STAFF,
    "circulation.copy": STAFF,
    "circulation.desk_renew_all": STAFF,
    "circulation.desk_cancel_hold": STAFF,
    "circulation.confirm_desk_cancel_hold": STAFF,
    "circulation.desk_hold_search": STAFF,
    "circulation.hold_slip": STAFF_READY_HOLD,
    "circulation.due_date_slip": STAFF,
    "holds.hold_shelf_page": STAFF,
    "holds.set_aside": STAFF,
    "circulation.loan_actions": STAFF,
    "circulation.mark_lost": STAFF,
    "circulation.claims_returned": STAFF,
    "circulation.change_due": STAFF,
    "circulation.renew_anyway": STAFF,
    "circulation.desk_lend_anyway": STAFF,
    "collection.new_book": STAFF,
    "collection.edit_book": STAFF,
    "collection.withdraw_book": STAFF,
    "collection.confirm_withdraw_book": STAFF,
    "collection.reinstate_book": STAFF,
    "collection.delete_book": STAFF,
    "collection.book_copies": STAFF,
    "collection.edit_copy": STAFF,
    "collection.delete_copy": STAFF,
    "collection.barcode_sequence": STAFF,
    "collection.patrons": STAFF,
    "collection.new_patron": STAFF,
    "collection.edit_patron": STAFF,
    "collection.delete_patron": STAFF,
    "dashboard.dashboard": STAFF,
    "import_export.import_start": STAFF,
    "import_export.import_upload": STAFF,
    "import_export.import_preview": STAFF,
    "import_export.import_confirm": STAFF,
    "import_export.import_cancel": STAFF,
    "import_export.export_csv": STAFF,
    "admin_mail.mailbox": STAFF,
    "admin_mail.mailbox_message": STAFF,
    "admin_mail.mailbox_message_html": STAFF,
    "admin_mail.reminders_page": STAFF,
    "admin_mail.run_now": STAFF,
    "admin_mail.notify_by_hand": STAFF,
    "rules.rules_page": ADMIN,
    "rules.rules_save": ADMIN,
    "rules.closed_day_add": ADMIN,
    "rules.closed_day_remove": ADMIN,
    "rules.rule_cell": ADMIN,
    "rules.rule_cell_save": ADMIN,
    "rules.rule_cell_clear": ADMIN,
    "rules.category_add": ADMIN,
    "rules.category_save": ADMIN,
    "rules.category_delete": ADMIN,
    "rules.item_type_add": ADMIN,
    "rules.item_type_save": ADMIN,
    "rules.item_type_delete": ADMIN,
    "rules.term_add": ADMIN,
    "rules.term_remove": ADMIN,
    "cataloguing.cover_image": PUBLIC_NO_COVER,
    "cataloguing.book_cover": STAFF,
    "cataloguing.box": STAFF,
    "cataloguing.box_scan": STAFF,
    "cataloguing.box_close": STAFF,
    "cataloguing.label_queue": STAFF,
    "cataloguing.print_labels": STAFF,
    "cataloguing.clear_label_queue": STAFF,
    "cataloguing.group_cards": STAFF,
    "cataloguing.patron_card": STAFF,
    "password.forgot_password": PUBLIC,
    "password.forgot_password_submit": PUBLIC,
    "password.reset_link": NOWHERE,
    "password.reset_link_submit": NOWHERE,
    "password.invitation_link": NOWHERE,
    "password.invitation_link_submit": NOWHERE,
    "password.change_password": SIGNED_IN,
    "password.change_password_submit": SIGNED_IN,
    "password.send_sign_in_link": STAFF,
    "password.set_temporary_password": STAFF,
    "password.invite": STAFF,
    "password.invite_submit": STAFF,
    "password.invite_progress": STAFF,
    "sso.start": NOWHERE,
    "sso.callback": NOWHERE,
    "privacy.settings_page": ADMIN,
    "privacy.settings_save": ADMIN,
    "privacy.keep_history": SIGNED_IN,
    "privacy.my_data_json": SIGNED_IN,
    "privacy.my_data_csv": SIGNED_IN,
    "privacy.patron_data_json": STAFF,
    "privacy.patron_data_csv": STAFF,
    "privacy.erase_page": STAFF,
    "privacy.erase": STAFF,
    "leavers.leavers_page": STAFF,
    "leavers.letters": STAFF,
    "leavers.email_letters": STAFF,
    "leavers.class_list": STAFF,
    "leavers.class_list_compare": STAFF,
    "leavers.deactivate": STAFF,
    "leavers.promote_page": STAFF,
    "leavers.promote": STAFF,
    "admin_mail.notices_page": ADMIN,
    "admin_mail.save_stages": ADMIN,
    "admin_mail.notice_editor": ADMIN,
    "admin_mail.save_notice": ADMIN,
    "admin_mail.preview_notice": ADMIN,
    "admin_mail.confirm_reset_notice": ADMIN,
    "admin_mail.reset_notice": ADMIN,
    "reports.reports_page": STAFF,
    "reports.report_csv": STAFF,
    "stocktake.stocktakes_page": STAFF,
    "stocktake.start_stocktake": STAFF,
    "stocktake.stocktake_page": STAFF,
    "stocktake.scan": STAFF,
    "stocktake.check_in": STAFF,
    "stocktake.confirm_close": STAFF,
    "stocktake.close": STAFF,
    "stocktake.report": STAFF,
    "stocktake.report_csv": STAFF,
    "stocktake.confirm_mark_lost": STAFF,
    "stocktake.mark_lost": STAFF,
}

# What each policy means, so a view whose @allow changes is caught even when
# the table above is not edited to match.
POLICY_ROWS = {
    Access.PUBLIC: {PUBLIC, PUBLIC_NO_COVER},
    Access.PUBLIC: {PUBLIC, NOWHERE},
    Access.LOGGED_IN: {SIGNED_IN, ALICES_OWN},
    Access.STAFF: {STAFF, STAFF_READY_HOLD},
    Access.STAFF_OR_MONITOR: {STAFF},
    Access.ADMIN: {ADMIN},
}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp("matrix") / "template.sqlite3"
    return path, build_library(path)


def routes(app) -> list[tuple[str, str, object]]:
    """(endpoint, method, rule) for every route; erasing the sample patron, then signing out,
    come last, so neither takes away what a later route needs."""
    found = [
        (rule.endpoint, method, rule)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    last = {"privacy.erase": 1, "auth.logout": 2}
    return sorted(
        found, key=lambda route: (last.get(route[0], 0), route[1] != "GET", route[2].rule)
    )


def outcome_of(status: int, location: str | None) -> str:
    if status in (301, 302, 303) and location and location.startswith("/login"):
        return LOGIN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    return OK


def test_the_table_covers_exactly_the_apps_routes(library):
    path, records = library
    app = create_app(make_settings(path))
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(endpoints - EXPECTED.keys()) == [], "routes without an expected outcome"
    assert sorted(EXPECTED.keys() - endpoints) == [], "expected outcomes for routes that are gone"
    arguments = {name for rule in app.url_map.iter_rules() for name in rule.arguments}
    assert sorted(arguments - records.url_values().keys()) == [], "URL arguments without a sample"
    for endpoint in endpoints - {"static"}:
        policy = app.view_functions[endpoint].access
        assert EXPECTED[endpoint] in POLICY_ROWS[policy], f"{endpoint} is {policy} in the code"


def test_a_view_without_a_declared_policy_stops_the_app_from_starting(library):
    path, _ = library
    app = create_app(make_settings(path))

    @app.get("/forgotten")
    async def forgotten():
        return "reachable by anyone"

    with pytest.raises(RuntimeError, match="forgotten"):
        _check_every_route_has_a_policy(app)
    allow(Access.ADMIN)(forgotten)
    _check_every_route_has_a_policy(app)


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=[r or "anonymous" for r in ROLES])
async def test_every_route_answers_each_role_as_declared(library, tmp_path, role_index):
    template, records = library
    role = ROLES[role_index]
    database = copy_library(template, tmp_path / "library.sqlite3")
    app = create_app(make_settings(database))
    values = records.url_values()
    mismatches = []
    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await signed_in(client, role)
        for endpoint, method, rule in routes(app):
            url = rule.rule
            for name in rule.arguments:
                url = _fill(url, name, values[name])
            if method == "GET":
                response = await client.get(url)
            else:
                response = await client.post(url, form={"csrf_token": token})
            assert response.status_code < 500, f"{method} {url} as {role}: {response.status_code}"
            got = outcome_of(response.status_code, response.headers.get("Location"))
            expected = EXPECTED[endpoint][role_index]
            if got != expected:
                mismatches.append(
                    f"{method} {url}: expected {expected}, got {got} ({response.status_code})"
                )
    assert mismatches == []


def _fill(rule: str, name: str, value) -> str:
    """Put ``value`` in place of ``<…:name>`` or ``<name>`` in a rule."""
    start = rule.index("<")
    while True:
        end = rule.index(">", start)
        if rule[start + 1 : end].split(":")[-1] == name:
            return rule[:start] + str(value) + rule[end + 1 :]
        start = rule.index("<", end)


async def test_a_librarian_cannot_make_change_or_delete_an_admin_account(library, tmp_path):
    template, records = library
    database = copy_library(template, tmp_path / "library.sqlite3")
    app = create_app(make_settings(database))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await signed_in(client, "librarian")
        carol = records.carol_id
        assert (await client.get(f"/patrons/{carol}/edit")).status_code == 403
        for url, form in (
            (f"/patrons/{carol}/edit", {"name": "Carol", "role": "Student", "active": "on"}),
            (f"/patrons/{carol}/delete", {}),
            (
                "/patrons/new",
                {"name": "Mallory", "role": "Admin", "email": "m@example.org", "active": "on"},
            ),
        ):
            response = await client.post(url, form={**form, "csrf_token": token})
            assert response.status_code == 403, url
    # The admin account is untouched and no new admin exists.
    conn = connect_sync(database)
    admins = conn.execute("SELECT Name FROM Users WHERE Role = 'Admin'").fetchall()
    conn.close()
    assert [row[0] for row in admins] == ["Carol Davis"]
