#!/usr/bin/env python3
"""The explorer page, end to end, in headless Chromium against a running foldbank.

    FOLDBANK_URL=http://127.0.0.1:8080 FOLDBANK_API_KEY=fbk_... python tests/browser/explorer.py
    python tests/browser/explorer.py --url http://127.0.0.1:8080 --key fbk_...

Drives the page as a person would: types the key, opens two accounts, deposits, withdraws and
transfers through the page's forms. Then checks what the page shows against what the API
answers: the timeline lists the account's events in order, the chart has one marker per
movement, time travel to an instant between two movements shows the balance
`GET /accounts/{id}/balance?at=` gives for it, the projections panel lists the followers, the
webhooks panel the subscriptions (the demo script makes one) with their parked messages, and
the browser console has no errors. Then the "pause the balances" switch: a deposit made while
the read model is paused is read stale and its `min_position` read answers 503; resumed, the
balance shows it. Then holds, placed, captured and left to expire through the
API (the page has no forms for them): the account's held and available figures, the panel of
open holds, the hold events on the timeline and in the fold, the available line on the chart,
and the holds open at an instant in time travel. Screenshots at 1280x800 and 390x844 go to
$FOLDBANK_BROWSER_ARTIFACTS (default target/browser-artifacts); `--update-docs` also copies
the 1280x800 one to docs/explorer.png for the README.

Uses Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`) through
Selenium; nothing is downloaded.
"""

import argparse
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20


class Api:
    """The service's API, called directly, to compare with what the page shows."""

    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.key = key

    def get(self, path):
        request = urllib.request.Request(self.url + path, headers={"Accept": "application/json"})
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)

    def post(self, path, body):
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Accept": "application/json", "Content-Type": "application/json"})
        if self.key:
            request.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return json.load(response)
        except urllib.error.HTTPError as refused:
            problem = refused.read().decode()
            raise AssertionError(f"POST {path} answered {refused.code}: {problem}") from None

    def events(self, account_id):
        events, path = [], f"/accounts/{account_id}/events?limit=500"
        while True:
            page = self.get(path)
            events += page["events"]
            if not page.get("next_cursor"):
                return events
            path = f"/accounts/{account_id}/events?limit=500&cursor={page['next_cursor']}"

    def movements(self, account_id, min_position):
        page = self.get(f"/accounts/{account_id}/transactions?limit=500&min_position={min_position}")
        return list(reversed(page["items"]))

    def balance_at(self, account_id, at):
        query = urllib.parse.urlencode({"at": at})
        return self.get(f"/accounts/{account_id}/balance?{query}")


class Page:
    """The explorer in a browser, by the ids its HTML gives its controls."""

    def __init__(self, driver, api):
        self.driver = driver
        self.api = api
        # The page re-renders as answers arrive: an element found a moment ago may be gone.
        self.wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def by_id(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id):
        return self.by_id(element_id).text

    def type_into(self, element_id, text):
        field = self.by_id(element_id)
        field.clear()
        field.send_keys(text)

    def click(self, element_id):
        self.by_id(element_id).click()

    def until(self, condition, what):
        try:
            return self.wait.until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"timed out waiting until {what}") from None

    def timeline(self):
        """(version, position, type) of each row, read in one script: the page may be
        replacing the rows meanwhile."""
        rows = self.driver.execute_script(
            "return [...document.querySelectorAll('#timeline tbody tr')]"
            ".map((row) => [row.dataset.version, row.dataset.position, row.dataset.type]);")
        return [(int(version), int(position), kind) for version, position, kind in rows]

    def shown_account(self):
        return self.text("account-id").strip()

    def open_account(self, deposit):
        if not self.by_id("open-details").get_attribute("open"):
            self.driver.find_element(By.CSS_SELECTOR, "#open-details summary").click()
        before = self.shown_account() if self.by_id("account-view").is_displayed() else ""
        self.type_into("open-deposit", deposit)
        self.click("open-account")
        self.until(lambda: self.by_id("account-view").is_displayed() and self.shown_account() not in ("", before),
                   "the new account is shown")
        account = self.shown_account()
        logged = [(e["version"], e["position"], e["type"]) for e in self.api.events(account)]
        self.until(lambda: self.timeline() == logged, "the new account's events are listed")
        return account

    def command(self, input_id, button_id, amount, events_after):
        before = self.text("consistency")
        self.type_into(input_id, amount)
        self.click(button_id)
        self.until(lambda: self.text("consistency") != before and "min_position=" in self.text("consistency"),
                   "the command's read-your-write is shown")
        self.until(lambda: len(self.timeline()) >= events_after, f"{events_after} events are listed")


def parse_instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(instant):
    return instant.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def start_chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,800", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def set_viewport(driver, width, height):
    """Resizes the window so that the page's viewport (not the window) is `width` x `height`."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))


def explore(driver, api, url, key, artifacts):
    page = Page(driver, api)
    driver.get(url.rstrip("/") + "/explorer")
    page.until(lambda: page.text("key-status") != "", "the page says whether it needs a key")
    if key:
        page.type_into("api-key", key)
        page.by_id("key-form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        page.until(lambda: "Using the key" in page.text("key-status"), "the page takes the key")
    # The list is loaded (an account, or the note that there is none, which also unfolds the
    # form to open one): from here on the page changes only when this test acts.
    page.until(lambda: driver.find_elements(By.CSS_SELECTOR, "#account-list li"), "the accounts are listed")
    assert not key or key not in driver.current_url, "the key never goes into the URL"

    # Two accounts, then deposit, withdraw and transfer on the first, through the page.
    receiver = page.open_account("20.00")
    account = page.open_account("100.00")
    page.command("deposit-amount", "deposit", "25.00", 3)
    page.command("withdraw-amount", "withdraw", "10.00", 4)
    page.type_into("transfer-to", receiver)
    page.command("transfer-amount", "transfer", "5.00", 5)
    # The page follows the process manager to its last step: the source records the completion.
    page.until(lambda: "completed" in page.text("consistency"), "the transfer completes")
    page.until(lambda: len(page.timeline()) == 6, "the six events of the account are listed")
    assert not key or key not in driver.current_url, "the key never goes into the URL"

    # The stream: every event, oldest first, as the log has it.
    events = api.events(account)
    shown = page.timeline()
    assert shown == [(e["version"], e["position"], e["type"]) for e in events], (shown, events)
    assert [kind for _, _, kind in shown] == [
        "AccountOpened", "MoneyDeposited", "MoneyDeposited", "MoneyWithdrawn",
        "TransferDebited", "TransferCompleted",
    ], shown
    assert [version for version, _, _ in shown] == list(range(1, 7)), shown
    positions = [position for _, position, _ in shown]
    assert positions == sorted(positions) and len(set(positions)) == len(positions), shown
    # Each event's link in the hash chain, shortened, the whole of it in the title.
    hashes = driver.execute_script(
        "return [...document.querySelectorAll('#timeline tbody tr td.hash')].map((cell) => cell.title);")
    assert hashes == [e["hash"] for e in events], (hashes, events)
    assert all(len(h) == 64 for h in hashes), hashes
    coverage = page.text("chain-coverage")
    assert "covered by a signed checkpoint" in coverage or "No checkpoint signed yet" in coverage, coverage

    # The fold: choosing the withdrawal shows the state right after it.
    withdrawal_row = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")[3]
    withdrawal_row.find_element(By.CSS_SELECTOR, "button.event-type").click()
    page.until(lambda: page.by_id("fold-view").get_attribute("data-version") == "4", "the fold shows event 4")
    assert page.by_id("fold-view").get_attribute("data-balance") == "11500"
    assert "115.00 EUR" in page.text("fold-view"), page.text("fold-view")

    # The chart: one marker per movement of the history read model, in order.
    movements = api.movements(account, events[-1]["position"])
    page.until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#chart .point")) == len(movements),
               f"the chart has {len(movements)} markers")
    kinds = driver.execute_script(
        "return [...document.querySelectorAll('#chart .point')].map((point) => point.dataset.kind);")
    assert len(kinds) == len(movements) == 4, (kinds, movements)
    assert kinds == [m["kind"] for m in movements] == ["deposit", "deposit", "withdrawal", "transfer_out"], kinds

    # Time travel to an instant between the deposit and the withdrawal.
    deposited, withdrawn = parse_instant(events[2]["occurred_at"]), parse_instant(events[3]["occurred_at"])
    assert deposited < withdrawn, (deposited, withdrawn)
    between = rfc3339(deposited + (withdrawn - deposited) / 2)
    expected = api.balance_at(account, between)
    assert expected["balance"] == 12500, expected
    page.type_into("travel-at", between)
    page.click("travel")
    page.until(lambda: page.driver.find_elements(By.ID, "travel-balance"), "the time-travel view appears")
    shown_balance = page.by_id("travel-balance")
    assert shown_balance.get_attribute("data-minor-units") == str(expected["balance"]), shown_balance.text
    assert shown_balance.text == "125.00 EUR", shown_balance.text
    assert page.text("now-balance") == "110.00 EUR", page.text("now-balance")

    # The projections panel lists the followers of the log.
    # (It refreshes every 2 s, so its rows are read in one script.)
    def followers():
        return driver.execute_script(
            "return [...document.querySelectorAll('#projections tbody tr[data-follower]')]"
            ".map((row) => row.dataset.follower);")
    page.until(lambda: {"account_balances", "account_transactions", "transfer_process"} <= set(followers()),
               "the projections panel lists the followers")

    # The webhooks panel lists the subscriptions (the demo made one), parked counts as the API says.
    def webhooks():
        return driver.execute_script(
            "return [...document.querySelectorAll('#webhooks tbody tr[data-webhook]')]"
            ".map((row) => [row.dataset.webhook, row.cells[2].textContent]);")
    def webhooks_match():
        listed = {w["webhook_id"]: str(w["backlog"]["parked"]) for w in api.get("/webhooks")["webhooks"]}
        return listed and dict(webhooks()) == listed
    page.until(webhooks_match, "the webhooks panel lists every subscription with its parked messages")

    # Screenshots, and the page fits a phone's width without scrolling sideways.
    driver.execute_script("window.scrollTo(0, 0)")
    wide = artifacts / "explorer-1280x800.png"
    set_viewport(driver, 1280, 800)
    driver.save_screenshot(str(wide))
    set_viewport(driver, 390, 844)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    driver.save_screenshot(str(artifacts / "explorer-390x844.png"))
    driver.find_element(By.ID, "timeline-title").location_once_scrolled_into_view
    driver.save_screenshot(str(artifacts / "explorer-390x844-timeline.png"))
    assert overflow <= 0, f"at 390 px the page scrolls sideways by {overflow} px"

    # The transfer on the other side: the debit's row links the destination, whose stream has the credit.
    set_viewport(driver, 1280, 800)
    debit_row = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")[4]
    debit_row.find_element(By.CSS_SELECTOR, "button.link").click()
    credited = [(e["version"], e["position"], e["type"]) for e in api.events(receiver)]
    assert [kind for _, _, kind in credited] == ["AccountOpened", "MoneyDeposited", "TransferCredited"], credited
    page.until(lambda: page.shown_account() == receiver and page.timeline() == credited,
               "the destination's stream, with the credit, is shown")
    return wide


def paused_at(api, follower):
    status = api.get("/projections")
    return next(p["paused_at"] for p in status["projections"] if p["name"] == follower)


def explore_pause(driver, api):
    """The "pause the balances" switch: a deposit's read at once stays where the read model was,
    its `min_position` read answers 503; resumed, the write is visible."""
    page = Page(driver, api)
    state = page.by_id("current-state")
    before = int(state.get_attribute("data-balance"))
    events = len(page.timeline())
    page.click("pause-balances")
    page.until(lambda: "paused at position" in page.text("consistency"), "the page says the read model is paused")
    assert paused_at(api, "account_balances") is not None, "the API says it is paused"
    page.command("deposit-amount", "deposit", "1.00", events + 1)
    page.until(lambda: "503 projection-behind" in page.text("consistency"),
               "the read of the deposit answers 503 while paused")
    assert "behind" in page.text("consistency"), page.text("consistency")
    assert int(state.get_attribute("data-balance")) == before, "the paused read model shows the balance from before"
    page.click("pause-balances")
    page.until(lambda: "every write is visible" in page.text("consistency"), "resumed, the deposit is read")
    page.until(lambda: int(page.by_id("current-state").get_attribute("data-balance")) == before + 100,
               "the balance shows the deposit")
    assert paused_at(api, "account_balances") is None, "the API says it runs again"


def explore_overdraft_fee(driver, api, artifacts):
    """The overdraft fee policy, a reaction with no coordinator: an account opened with a fee
    through the form goes below zero; the page shows the account's `AccountOverdrawn`, then the
    policy's fee naming the withdrawal as its cause, once."""
    page = Page(driver, api)
    if not page.by_id("open-details").get_attribute("open"):
        driver.find_element(By.CSS_SELECTOR, "#open-details summary").click()
    page.type_into("open-overdraft", "100.00")
    page.type_into("open-fee", "2.50")
    account = page.open_account("10.00")
    # The form folds away once the account opens: its terms go back to none for what follows.
    driver.execute_script("document.getElementById('open-overdraft').value = '0';"
                          "document.getElementById('open-fee').value = '0';")
    assert api.get(f"/accounts/{account}")["overdraft_fee"] == 250
    page.command("withdraw-amount", "withdraw", "30.00", 4)
    page.until(lambda: "the policy charged the fee" in page.text("consistency"), "the page follows the fee policy")
    kinds = ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "AccountOverdrawn", "OverdraftFeeCharged"]
    page.until(lambda: [kind for _, _, kind in page.timeline()] == kinds, "the crossing and the fee are listed")
    events = api.events(account)
    assert [e["type"] for e in events] == kinds, events
    assert events[4]["data"]["cause"] == events[2]["data"]["transaction_id"], events
    page.until(lambda: int(page.by_id("current-state").get_attribute("data-balance")) == 1000 - 3000 - 250,
               "the balance shows the fee")
    driver.find_element(By.ID, "timeline-title").location_once_scrolled_into_view
    driver.save_screenshot(str(artifacts / "explorer-overdraft-fee.png"))


def readable(instant):
    """An instant as the page writes it (`readableTime` in app.js): to the millisecond, no T/Z."""
    return instant.replace("T", " ").rstrip("Z")[:23]


def holds_account(api):
    """An account with 100.00 EUR and a hold of each fate, made through the API: the hotel's
    80.00 open, the taxi's 20.00 captured for 15.00, the parking's 5.00 expired (placed last,
    so that the order of the events is known). Waits until the read models have all of it."""
    opened = api.post("/accounts", {"owner_id": str(uuid.uuid4()), "currency": "EUR",
                                    "initial_deposit": 10000})
    account = opened["account_id"]
    holds = f"/accounts/{account}/holds"
    hotel = api.post(holds, {"amount": 8000, "currency": "EUR", "expires_in_secs": 7 * 86400,
                             "description": "hotel deposit"})
    taxi = api.post(holds, {"amount": 2000, "currency": "EUR", "expires_in_secs": 3600,
                            "description": "taxi"})
    api.post(f"{holds}/{taxi['hold_id']}/capture", {"amount": 1500})
    parking = api.post(holds, {"amount": 500, "currency": "EUR", "expires_in_secs": 1,
                               "description": "parking"})
    # The scheduler records HoldExpired within a second or two of the deadline.
    give_up = time.monotonic() + 30
    parked = f"{holds}/{parking['hold_id']}?min_position={parking['position']}"
    while api.get(parked)["status"] != "expired":
        assert time.monotonic() < give_up, "the parking hold did not expire within 30 s"
        time.sleep(0.25)
    last = api.events(account)[-1]["position"]
    for read in (f"/accounts/{account}", holds, f"/accounts/{account}/transactions"):
        api.get(f"{read}?min_position={last}")
    return account, hotel


def explore_holds(driver, api, artifacts):
    page = Page(driver, api)
    account, hotel = holds_account(api)
    page.type_into("find-id", account)
    page.by_id("find-form").find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    events = api.events(account)
    logged = [(e["version"], e["position"], e["type"]) for e in events]
    page.until(lambda: page.shown_account() == account and page.timeline() == logged,
               "the holds account's events are listed")
    assert [kind for _, _, kind in logged] == [
        "AccountOpened", "MoneyDeposited", "HoldPlaced", "HoldPlaced", "HoldCaptured",
        "HoldPlaced", "HoldExpired",
    ], logged

    # The account: 100.00 - 15.00 captured = 85.00, of which the hotel's 80.00 is held.
    view = api.get(f"/accounts/{account}")
    assert (view["balance"], view["held"], view["available"]) == (8500, 8000, 500), view
    page.until(lambda: page.by_id("current-state").get_attribute("data-held") == "8000",
               "the account shows what is held")
    facts = dict(driver.execute_script(
        "return [...document.querySelectorAll('#current-state > div')]"
        ".map((fact) => [...fact.children].map((term) => term.textContent));"))
    assert (facts["balance"], facts["held"], facts["available"]) == \
        ("85.00 EUR", "80.00 EUR", "5.00 EUR"), facts
    assert page.by_id("current-state").get_attribute("data-available") == "500"

    # The panel of open holds: the hotel's alone, with its amount, description and deadline.
    def open_holds():
        return driver.execute_script(
            "return [...document.querySelectorAll('#hold-list li.hold')]"
            ".map((hold) => [hold.dataset.holdId, hold.textContent]);")
    page.until(lambda: len(open_holds()) == 1, "the panel lists one open hold")
    [(hold_id, text)] = open_holds()
    assert hold_id == hotel["hold_id"], (hold_id, hotel)
    deadline = readable(hotel["expires_at"])[:19]
    for expected in ("80.00 EUR", "hotel deposit", f"expires {deadline}"):
        assert expected in text, (expected, text)
    assert page.text("holds-summary") == "1 open, 80.00 EUR held.", page.text("holds-summary")

    # The timeline: each hold event says what it did.
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#timeline tbody tr')]"
        ".map((row) => row.querySelector('.hold-label')?.textContent ?? null);")
    assert labels[:2] == [None, None], labels
    assert labels[2].startswith(f"hold placed 80.00 EUR, expires {deadline}"), labels
    assert labels[3].startswith("hold placed 20.00 EUR, expires "), labels
    assert labels[4] == "hold captured 15.00 EUR, 5.00 EUR released", labels
    assert labels[5].startswith("hold placed 5.00 EUR, expires "), labels
    assert labels[6] == "hold expired, 5.00 EUR released", labels

    # The fold after the hotel's hold: held, and no longer available.
    driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")[2].find_element(
        By.CSS_SELECTOR, "button.event-type").click()
    page.until(lambda: page.by_id("fold-view").get_attribute("data-version") == "3",
               "the fold shows event 3")
    fold = {row[0]: row[1:3] for row in driver.execute_script(
        "return [...document.querySelectorAll('#fold-view tbody tr')]"
        ".map((row) => [...row.children].map((cell) => cell.textContent));")}
    assert fold["held"] == ["0.00 EUR", "80.00 EUR"], fold
    assert fold["available"] == ["100.00 EUR", "20.00 EUR"], fold
    assert fold["open holds"] == ["0", "1"], fold

    # The chart: the capture is a movement; the available line is drawn beside the balance.
    page.until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#chart .point")) == 2,
               "the chart has 2 markers")
    kinds = driver.execute_script(
        "return [...document.querySelectorAll('#chart .point')].map((point) => point.dataset.kind);")
    assert kinds == ["deposit", "hold_capture"], kinds
    assert driver.find_elements(By.CSS_SELECTOR, "#chart svg.chart path.available-line")
    assert driver.find_elements(By.CSS_SELECTOR, "#chart svg.chart path.balance-line")
    capture = driver.find_element(By.CSS_SELECTOR, "#chart .point.kind-hold_capture")
    capture = capture.get_attribute("aria-label")
    assert "balance 85.00 EUR" in capture and "available 5.00 EUR" in capture, capture
    legend = page.text("chart")
    assert "balance" in legend and "available" in legend and "hold captured" in legend, legend

    # Time travel to between the hotel's hold and the taxi's: the hotel's hold alone was open.
    placed = [parse_instant(e["occurred_at"]) for e in events if e["type"] == "HoldPlaced"]
    assert placed[0] < placed[1], placed
    between = rfc3339(placed[0] + (placed[1] - placed[0]) / 2)
    page.type_into("travel-at", between)
    page.click("travel")
    page.until(lambda: driver.find_elements(By.ID, "travel-holds"), "the time-travel view appears")
    then = [hold.get_attribute("data-hold-id")
            for hold in driver.find_elements(By.CSS_SELECTOR, "#travel-holds li.hold")]
    assert then == [hotel["hold_id"]], then
    assert page.text("travel-held") == "80.00 EUR", page.text("travel-held")
    assert page.text("travel-available") == "20.00 EUR", page.text("travel-available")
    assert page.text("now-available") == "5.00 EUR", page.text("now-available")

    # Screenshots; at a phone's width the holds panel does not make the page scroll sideways.
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(artifacts / "explorer-holds-1280x800.png"))
    driver.find_element(By.ID, "chart-title-h").location_once_scrolled_into_view
    driver.save_screenshot(str(artifacts / "explorer-holds-chart-1280x800.png"))
    set_viewport(driver, 390, 844)
    driver.find_element(By.ID, "holds-title").location_once_scrolled_into_view
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    driver.save_screenshot(str(artifacts / "explorer-holds-390x844.png"))
    set_viewport(driver, 1280, 800)
    assert overflow <= 0, f"at 390 px the holds account scrolls sideways by {overflow} px"


def console_errors(driver):
    """What the console logged as errors, but for the 503 the pause test asks for (Chromium logs
    every answer of 4xx or 5xx to a fetch)."""
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"
            and not ("min_position=" in entry["message"] and " 503 " in entry["message"])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("FOLDBANK_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--key", default=os.environ.get("FOLDBANK_API_KEY", ""))
    parser.add_argument("--artifacts",
                        default=os.environ.get("FOLDBANK_BROWSER_ARTIFACTS", str(ROOT / "target" / "browser-artifacts")))
    parser.add_argument("--update-docs", action="store_true",
                        help="copy the 1280x800 screenshot to docs/explorer.png")
    args = parser.parse_args()
    artifacts = Path(args.artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    api = Api(args.url, args.key)

    driver = start_chromium()
    try:
        try:
            wide = explore(driver, api, args.url, args.key, artifacts)
            explore_pause(driver, api)
            explore_overdraft_fee(driver, api, artifacts)
            explore_holds(driver, api, artifacts)
        except BaseException:
            driver.save_screenshot(str(artifacts / "explorer-failure.png"))
            (artifacts / "explorer-failure.html").write_text(driver.page_source)
            raise
        errors = console_errors(driver)
        assert not errors, "the browser console has errors:\n" + "\n".join(e["message"] for e in errors)
    finally:
        driver.quit()

    if args.update_docs:
        shutil.copyfile(wide, ROOT / "docs" / "explorer.png")
    print(f"explorer: all checks passed; screenshots in {artifacts}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"explorer: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
