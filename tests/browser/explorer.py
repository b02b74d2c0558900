#!/usr/bin/env python3
"""The explorer page, end to end, in headless Chromium against a running foldbank.

    FOLDBANK_URL=http://127.0.0.1:8080 FOLDBANK_API_KEY=fbk_... python tests/browser/explorer.py
    python tests/browser/explorer.py --url http://127.0.0.1:8080 --key fbk_...

Drives the page as a person would: types the key, opens two accounts, deposits, withdraws and
transfers through the page's forms. Then checks what the page shows against what the API
answers: the timeline lists the account's events in order, the chart has one marker per
movement, time travel to an instant between two movements shows the balance
`GET /accounts/{id}/balance?at=` gives for it, the projections panel lists the followers, and
the browser console has no errors. Screenshots at 1280x800 and 390x844 go to
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
import urllib.parse
import urllib.request
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
    assert key not in driver.current_url, "the key never goes into the URL"

    # Two accounts, then deposit, withdraw and transfer on the first, through the page.
    receiver = page.open_account("20.00")
    account = page.open_account("100.00")
    page.command("deposit-amount", "deposit", "25.00", 3)
    page.command("withdraw-amount", "withdraw", "10.00", 4)
    page.type_into("transfer-to", receiver)
    page.command("transfer-amount", "transfer", "5.00", 5)
    # The page follows the saga to its last step: the source records the completion.
    page.until(lambda: "completed" in page.text("consistency"), "the transfer completes")
    page.until(lambda: len(page.timeline()) == 6, "the six events of the account are listed")
    assert key not in driver.current_url, "the key never goes into the URL"

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

    # The saga on the other side: the debit's row links the destination, whose stream has the credit.
    set_viewport(driver, 1280, 800)
    debit_row = driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")[4]
    debit_row.find_element(By.CSS_SELECTOR, "button.link").click()
    credited = [(e["version"], e["position"], e["type"]) for e in api.events(receiver)]
    assert [kind for _, _, kind in credited] == ["AccountOpened", "MoneyDeposited", "TransferCredited"], credited
    page.until(lambda: page.shown_account() == receiver and page.timeline() == credited,
               "the destination's stream, with the credit, is shown")
    return wide


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


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
