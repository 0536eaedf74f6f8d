"""The web console in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium, against a live server the Swift test started.

    console_test.py URL NAME PASSWORD DATA_DIR SCREENSHOT_DIR UPSTREAM_PORT DATABASE

UPSTREAM_PORT is where the server's `Upstream` check looks: this script serves it, then stops it.
DATABASE is the SQLite file of the served table `books`.

Exits 0 when every check passed; otherwise prints what failed and exits 1. Screenshots of each
view go to SCREENSHOT_DIR.
"""
import http.server
import os
import zipfile
import sqlite3
import sys
import threading
import tempfile
import time

os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager would try to send statistics: no network here
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

url, name, password, data_dir, shots, upstream_port, database = sys.argv[1:8]


class Up(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"up")

    def log_message(self, *args):
        pass


upstream = http.server.ThreadingHTTPServer(("127.0.0.1", int(upstream_port)), Up)
threading.Thread(target=upstream.serve_forever, daemon=True).start()
files_dir = os.path.join(data_dir, "files")
os.makedirs(shots, exist_ok=True)
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAILED:", message, flush=True)


downloads = tempfile.mkdtemp()
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20)


def summary_says(text):
    return lambda d: text in d.find_element(By.ID, "outcome-summary").text


def no_alert():
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


try:
    # Sign in.
    driver.get(url + "/ui/")
    wait.until(EC.visibility_of_element_located((By.ID, "sign-in-form")))
    driver.save_screenshot(os.path.join(shots, "1-sign-in.png"))
    driver.find_element(By.ID, "sign-in-name").send_keys(name)
    driver.find_element(By.ID, "sign-in-password").send_keys("wrong")
    driver.find_element(By.ID, "sign-in-submit").click()
    wait.until(lambda d: d.find_element(By.ID, "sign-in-error").text != "")
    check("not right" in driver.find_element(By.ID, "sign-in-error").text, "a wrong password is said so")
    driver.find_element(By.ID, "sign-in-name").clear()
    driver.find_element(By.ID, "sign-in-name").send_keys(name)
    driver.find_element(By.ID, "sign-in-password").send_keys(password)
    driver.find_element(By.ID, "sign-in-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "files")))
    cookie = driver.get_cookie("ms_session")
    check(cookie is not None and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", f"the session cookie is HttpOnly and SameSite=Strict: {cookie}")

    # Upload 20 files, two with names the server refuses.
    local = tempfile.mkdtemp()
    bad = ["back\\slash.txt", "bidi\u202etxt.exe"]
    names = [f"file-{i:02}.txt" for i in range(18)] + bad
    for index, file_name in enumerate(names):
        with open(os.path.join(local, file_name), "w") as f:
            f.write(f"content {index}\n")
    driver.find_element(By.ID, "picker").send_keys("\n".join(os.path.join(local, n) for n in names))
    wait.until(summary_says("20 items"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#outcomes tbody tr")
    ok = [r for r in rows if "ok" in r.get_attribute("class").split()]
    failed = [r for r in rows if "fail" in r.get_attribute("class").split()]
    check(len(rows) == 20 and len(ok) == 18 and len(failed) == 2, f"18 success rows and 2 failure rows, not {len(ok)} and {len(failed)}")
    messages = {r.find_element(By.CSS_SELECTOR, ".item").text: r.find_element(By.CSS_SELECTOR, ".message").text for r in failed}
    check(messages.get("back\\slash.txt") == "file name must not contain '\\'", f"the backslash name's message: {messages}")
    check(any("bidirectional" in m for m in messages.values()), f"the bidi name's message: {messages}")
    check(all(r.find_element(By.CSS_SELECTOR, ".status").text.startswith("400") for r in failed), "the refused files are 400")
    check(sorted(os.listdir(files_dir)) == sorted(names[:18]), f"the 18 files are on disk: {sorted(os.listdir(files_dir))}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#listing tbody tr")) == 18)
    driver.save_screenshot(os.path.join(shots, "2-files-after-upload.png"))

    # Select 5 files and delete them.
    chosen = names[:5]
    for file_name in chosen:
        driver.find_element(By.CSS_SELECTOR, f'#listing tr[data-name="{file_name}"] input[type=checkbox]').click()
    driver.find_element(By.ID, "delete").click()
    wait.until(summary_says("5 items: 5 succeeded, 0 failed"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#outcomes tbody tr")
    check([r.find_element(By.CSS_SELECTOR, ".item").text for r in rows] == chosen, "one outcome row per deleted file")
    check(all(r.find_element(By.CSS_SELECTOR, ".status").text.startswith("204") for r in rows), "each deleted file is 204")
    check(not any(os.path.exists(os.path.join(files_dir, n)) for n in chosen), "the 5 files are gone from disk")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#listing tbody tr")) == 13)
    driver.save_screenshot(os.path.join(shots, "3-files-after-delete.png"))

    # A new folder; two files moved into it, one copied; two downloaded as one ZIP.
    def select(*file_names):
        for file_name in file_names:
            driver.find_element(By.CSS_SELECTOR, f'#listing tr[data-name="{file_name}"] input[type=checkbox]').click()

    driver.find_element(By.ID, "new-folder").send_keys("moved")
    driver.find_element(By.ID, "make-folder").click()
    wait.until(summary_says("1 items: 1 succeeded, 0 failed"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#listing tr[data-name="moved"]')) == 1)
    select("file-05.txt", "file-06.txt")
    driver.find_element(By.ID, "target").send_keys("moved")
    driver.find_element(By.ID, "move").click()
    wait.until(summary_says("2 items: 2 succeeded, 0 failed"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#listing tr[data-name="file-05.txt"]')) == 0)
    select("file-07.txt")
    driver.find_element(By.ID, "copy").click()
    wait.until(summary_says("1 items: 1 succeeded, 0 failed"))
    check(sorted(os.listdir(os.path.join(files_dir, "moved"))) == ["file-05.txt", "file-06.txt", "file-07.txt"], "moved and copied into the folder")
    check(os.path.exists(os.path.join(files_dir, "file-07.txt")), "a copy leaves its source")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#listing tr[data-name="file-07.txt"] input:not(:checked)')) == 1)
    select("file-08.txt", "file-09.txt")
    driver.find_element(By.ID, "download").click()
    zip_path = os.path.join(downloads, "files.zip")
    WebDriverWait(driver, 20).until(lambda d: os.path.exists(zip_path))
    time.sleep(0.5)
    check(sorted(zipfile.ZipFile(zip_path).namelist()) == ["file-08.txt", "file-09.txt"], f"the ZIP holds the two files: {zipfile.ZipFile(zip_path).namelist()}")
    driver.find_element(By.CSS_SELECTOR, '#listing tr[data-name="moved"] button.folder').click()
    wait.until(lambda d: "moved" in d.find_element(By.ID, "breadcrumbs").text)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#listing tbody tr")) == 3)
    driver.save_screenshot(os.path.join(shots, "3b-folder-after-move.png"))

    # A hostile name is listed as text: no element made of it, no script run.
    hostile = "<img src=x onerror=alert(1)>.txt"
    with open(os.path.join(files_dir, hostile), "w") as f:
        f.write("x")
    driver.find_element(By.CSS_SELECTOR, "#breadcrumbs button").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#listing tbody tr")) == 13)
    time.sleep(0.5)
    check(no_alert(), "no alert ran")
    check(driver.find_elements(By.CSS_SELECTOR, "main img") == [], "no img element was injected")
    spans = [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#listing td.name span")]
    check(hostile in spans, f"the hostile name is shown as text: {spans}")
    driver.save_screenshot(os.path.join(shots, "4-hostile-name.png"))

    # Writes need the CSRF token: the page's own request without it, and another site's form, are refused.
    victim = os.path.join(files_dir, "file-10.txt")
    status = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/file-operations', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-MultiStatus-Console': '1'},
            body: JSON.stringify([{op: 'delete', path: 'file-10.txt'}])}).then(r => done(r.status));""")
    check(status == 403, f"a write without the CSRF token is 403, not {status}")
    attack = os.path.join(local, "attack.html")
    with open(attack, "w") as f:
        f.write(f"""<form id=f method=POST action="{url}/file-operations" enctype="text/plain">
            <input name='[{{"op": "delete", "path": "file-10.txt", "x": "' value='"}}]'></form>
            <script>document.getElementById('f').submit()</script>""")
    driver.get("file://" + attack)
    time.sleep(1.5)
    check(os.path.exists(victim), "a cross-site form POST deleted nothing")
    driver.get(url + "/ui/")
    wait.until(EC.visibility_of_element_located((By.ID, "files")))

    # The dashboard: a card per source, refreshed every second; the upstream stopped turns its card to 503.
    def card(source):
        cards = [c for c in driver.find_elements(By.CSS_SELECTOR, "#cards .card") if c.find_element(By.TAG_NAME, "h3").text == source]
        return cards[0] if cards else None

    def card_status(source):
        found = card(source)
        return found.find_element(By.CSS_SELECTOR, ".status").text if found else ""

    driver.get(url + "/ui/?refresh=1000#dashboard")
    wait.until(lambda d: card_status("Database").startswith("200") and card_status("Upstream").startswith("200"))
    wait.until(lambda d: "Health: pass" in d.find_element(By.ID, "health").text)
    wait.until(lambda d: len(card("Database").find_element(By.TAG_NAME, "polyline").get_attribute("points").split()) >= 2)
    check("ms" in card("Database").find_element(By.CSS_SELECTOR, ".latency").text, "the latency is shown")
    check(card("Database").find_element(By.CSS_SELECTOR, ".checked").text.startswith("checked "), "the last check time is shown")
    driver.save_screenshot(os.path.join(shots, "5-dashboard.png"))
    upstream.shutdown()
    upstream.server_close()
    stopped = time.monotonic()
    # The page is not reloaded: the card turns on one of its own refreshes (every second here,
    # after the server's 1 s result cache). The wait bounds it without timing it.
    WebDriverWait(driver, 20).until(lambda d: card_status("Upstream").startswith("503"))
    print(f"the stopped upstream's card turned to 503 after {time.monotonic() - stopped:.1f} s", flush=True)
    check("down" in card("Upstream").get_attribute("class"), "the stopped upstream's card is marked down")
    check(card_status("Database").startswith("200"), "the database card stays 200")
    driver.save_screenshot(os.path.join(shots, "6-dashboard-upstream-down.png"))

    # Records: a pasted CSV of 10 rows, one with a price that is not a number.
    driver.get(url + "/ui/#records")
    wait.until(lambda d: "books" in [o.text for o in d.find_elements(By.CSS_SELECTOR, "#record-table option")])
    driver.find_element(By.CSS_SELECTOR, '#record-table option[value="books"]').click()
    rows = ["id,title,price"] + [f'{i},"Book {i}, vol. {i}",{i}.50' for i in range(1, 11)]
    rows[7] = '7,Bad price,cheap'
    driver.find_element(By.ID, "record-csv").send_keys("\n".join(rows))
    driver.find_element(By.ID, "record-submit").click()
    wait.until(lambda d: "10 rows" in d.find_element(By.ID, "record-summary").text)
    check(driver.find_element(By.ID, "record-summary").text == "10 rows: 9 succeeded, 1 failed", driver.find_element(By.ID, "record-summary").text)
    grid = driver.find_elements(By.CSS_SELECTOR, "#record-grid tbody tr")
    failed = [r for r in grid if r.get_attribute("class") == "fail"]
    check(len(grid) == 10 and len(failed) == 1, f"one failed row of 10, not {len(failed)}")
    if failed:
        check("field: price" in failed[0].find_element(By.CSS_SELECTOR, ".outcome").text, failed[0].find_element(By.CSS_SELECTOR, ".outcome").text)
        check("bad-field" in failed[0].find_element(By.CSS_SELECTOR, 'input[data-column="price"]').get_attribute("class"), "the failing field is marked")
    stored = sqlite3.connect(database).execute("SELECT id, title FROM books ORDER BY id").fetchall()
    check([row[0] for row in stored] == [1, 2, 3, 4, 5, 6, 8, 9, 10], f"the 9 rows are in the table: {stored}")
    check(stored[0][1] == "Book 1, vol. 1", f"a quoted comma is kept: {stored[:1]}")
    driver.save_screenshot(os.path.join(shots, "7-records.png"))

    # Sign out: the session is gone.
    driver.find_element(By.ID, "sign-out").click()
    wait.until(EC.visibility_of_element_located((By.ID, "sign-in-form")))
    status = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch('/files/', {credentials: 'same-origin', headers: {'X-MultiStatus-Console': '1'}}).then(r => done(r.status));""")
    check(status == 401, f"after sign-out the cookie opens nothing: {status}")
finally:
    driver.quit()

print("console checks:", "all passed" if not failures else f"{len(failures)} failed")
sys.exit(1 if failures else 0)
