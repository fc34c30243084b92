// Drives Debian's Chromium (headless, through puppeteer-core) against the console, as a
// person would: sign in, start a LockTable experiment from the form, watch the incident
// appear live with its checks table, approve the pending RestartDatabase, and, as a user
// with rights in another namespace only, see no target and get 403 on approve.
// Run by tests/cluster/console_browser.sh, which sets up the cluster side and checks it
// afterwards. Environment: CONSOLE_URL, OPERATOR_TOKEN, OUTSIDER_TOKEN, NS, REM,
// SCREENSHOT_DIR, BROWSER_MODULES (puppeteer-core's folder), CHROMIUM (default
// /usr/bin/chromium), KUBECTL (default kubectl).
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

const require = createRequire(process.env.BROWSER_MODULES + "/");
const puppeteer = require("puppeteer-core");

const url = process.env.CONSOLE_URL;
const ns = process.env.NS;
const rem = process.env.REM || "api";
const shots = process.env.SCREENSHOT_DIR;
const kubectl = process.env.KUBECTL || "kubectl";
mkdirSync(shots, { recursive: true });

const t0 = Date.now();
const say = (msg) => console.log(`[browser +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
function fail(msg) {
  console.error(`[browser] FAIL: ${msg}`);
  process.exitCode = 1;
  throw new Error(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function phaseInCluster() {
  try {
    return execFileSync(kubectl, ["get", "remediation", rem, "-n", ns, "-o", "jsonpath={.status.phase}"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch (_) { return ""; }
}

// The phase the page shows for the Remediation (its row's fifth cell).
async function phaseOnPage(page) {
  return page.evaluate((key) => {
    const row = document.querySelector(`#targets tbody tr[data-key="${key}"]`);
    return row ? row.cells[4].textContent.trim() : "";
  }, `${ns}/${rem}`);
}

async function waitFor(what, seconds, fn) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out after ${seconds}s waiting for ${what}`);
    await sleep(100);
  }
}

async function signIn(page, token, namespace) {
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.type("#token", token);
  await page.type("#namespace", namespace);
  await page.click("#signin-form button[type=submit]");
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  defaultViewport: { width: 1360, height: 900 },
});
let status = 0;
try {
  // ---- the operator
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.screenshot({ path: `${shots}/console-signin.png` });
  await signIn(page, process.env.OPERATOR_TOKEN, ns);
  await waitFor("the sign-in to name the operator", 20, () =>
    page.$eval("#who", (e) => e.textContent.includes(":operator")));
  await waitFor(`the target ${ns}/${rem} Watching`, 60, async () => (await phaseOnPage(page)) === "Watching");
  say(`signed in; ${ns}/${rem} shown Watching`);
  await waitFor("the target's chart (error ratio and pool saturation)", 30, () =>
    page.evaluate((key) => {
      const row = document.querySelector(`#targets tbody tr[data-key="${key}"]`);
      return row && row.querySelectorAll("svg.spark polyline").length >= 1;
    }, `${ns}/${rem}`));
  await page.screenshot({ path: `${shots}/console-targets.png`, fullPage: true });

  // A LockTable experiment from the form (its defaults: LockTable on items, 1 connection).
  await page.$eval("#break-form input[name=duration]", (e) => { e.value = "3m"; });
  await page.click("#break-form button[type=submit]");
  const started = await waitFor("the form to report the experiment", 20, () =>
    page.$eval("#break-result", (e) => (e.textContent.startsWith("Started ") ? e.textContent : "")));
  const experiment = started.split(" ")[1].split("/")[1];
  say(`${started}`);
  await waitFor(`experiment ${experiment} Active on the page`, 60, () =>
    page.evaluate((key) => {
      const row = document.querySelector(`#experiments tbody tr[data-key="${key}"]`);
      return row && row.cells[3].textContent.startsWith("Active") && row.cells[4].textContent.trim() === "1";
    }, `${ns}/${experiment}`));
  say(`experiment ${experiment} Active, 1 session held (page)`);

  // Live: the page shows AwaitingApproval without a reload; measured against the API server.
  let apiAt = 0;
  let pageAt = 0;
  const deadline = Date.now() + 90_000;
  while (!pageAt && Date.now() < deadline) {
    if (!apiAt && phaseInCluster() === "AwaitingApproval") apiAt = Date.now();
    if ((await phaseOnPage(page)) === "AwaitingApproval") pageAt = Date.now();
    await sleep(50);
  }
  if (!pageAt) fail("the page never showed AwaitingApproval");
  if (!apiAt) apiAt = pageAt; // seen by both in the same poll
  const lag = Math.max(0, pageAt - apiAt);
  say(`AwaitingApproval on the page ${lag} ms after kubectl saw it (no reload)`);
  if (lag > 5000) fail(`the page lagged the API server by ${lag} ms`);
  console.log(`LIVE_LAG_MS=${lag}`);

  await page.click(`#targets tbody tr[data-key="${ns}/${rem}"] a`);
  await waitFor("the checks table with LockContention", 20, () =>
    page.evaluate(() => {
      const h = [...document.querySelectorAll("#incident-body h3")].map((e) => e.textContent).join(" ");
      const rows = document.querySelectorAll("#incident-body table.checks tbody tr").length;
      return h.includes("LockContention") && rows >= 4;
    }));
  const checks = await page.$$eval("#incident-body table.checks tbody tr", (rows) =>
    rows.map((r) => `${r.cells[0].textContent}=${r.cells[1].textContent}`).join(", "));
  say(`incident page: ${checks}`);
  await page.screenshot({ path: `${shots}/console-incident.png`, fullPage: true });

  // ---- the outsider, in a separate session: no target, and 403 on approve
  const context = await browser.createBrowserContext();
  const other = await context.newPage();
  await signIn(other, process.env.OUTSIDER_TOKEN, ns);
  await waitFor("the outsider's page to say Forbidden", 20, () =>
    other.$eval("#error", (e) => e.textContent.startsWith("Forbidden")));
  const rows = await other.$$eval("#targets tbody tr[data-key]", (r) => r.length);
  if (rows !== 0) fail(`the outsider sees ${rows} targets in ${ns}`);
  const approveStatus = await other.evaluate(async (body, token) => {
    const r = await fetch("/action/approve", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return r.status;
  }, { namespace: ns, remediation: rem }, process.env.OUTSIDER_TOKEN);
  if (approveStatus !== 403) fail(`the outsider's approve answered ${approveStatus}, not 403`);
  say("outsider: Forbidden shown, 0 targets, approve → 403");
  await other.screenshot({ path: `${shots}/console-forbidden.png` });
  await context.close();
  if (phaseInCluster() !== "AwaitingApproval") fail("the outsider's attempt changed the phase");

  // ---- the operator approves on the page
  await page.click(`#targets tbody tr[data-key="${ns}/${rem}"] button.approve`);
  await waitFor("the Remediation Resolved on the page", 180, async () => (await phaseOnPage(page)) === "Resolved");
  await waitFor("the action Verified in the incident's actions table", 30, () =>
    page.evaluate(() => [...document.querySelectorAll("#incident-body table.actions tbody tr")]
      .some((r) => r.cells[1].textContent === "RestartDatabase" && r.cells[2].textContent === "Verified")));
  say("approved on the page; RestartDatabase Verified, Resolved");
  await page.screenshot({ path: `${shots}/console-resolved.png`, fullPage: true });
  if (external.length) fail(`the page fetched from elsewhere: ${external.join(", ")}`);
  console.log(`EXPERIMENT=${experiment}`);
} catch (e) {
  status = 1;
  if (!process.exitCode) console.error(`[browser] FAIL: ${e.stack || e}`);
  try {
    const pages = await browser.pages();
    if (pages.length) await pages[0].screenshot({ path: `${shots}/console-failure.png`, fullPage: true });
  } catch (_) { /* the browser may be gone */ }
} finally {
  await browser.close();
}
process.exit(status);
