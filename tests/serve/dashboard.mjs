// The live dashboard in headless Chromium (playwright-core, /usr/bin/chromium): the
// page loads; the chart (SVG bars of the --show query) changes as files land; a query
// typed in the box shows the right rows. Screenshots go to the directory argv[3].
// argv[4] is a command run (through the shell) to drop more files while the page is
// open. Prints "ok ..." lines; exits 1 on a failure.
import { chromium } from "playwright-core";
import { execSync } from "node:child_process";
import fs from "node:fs";
const [url, shots, feed] = [process.argv[2], process.argv[3], process.argv[4]];
fs.mkdirSync(shots, { recursive: true });
const udd = fs.mkdtempSync("/tmp/tb-chromium-");
const fail = m => { console.log("FAIL " + m); process.exit(1); };
// a fresh profile directory (INFRA.md): playwright takes it as the persistent context's
const browser = await chromium.launchPersistentContext(udd, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 800 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#chart rect", { timeout: 20000 });
  const title = await page.textContent("header h1");
  if (!/Live Dashboard - Total Sales Per Category/.test(title)) fail("title: " + title);
  console.log("ok   page loads: " + title);
  const before = await page.getAttribute("#chart", "data-rows");
  await page.screenshot({ path: shots + "/dashboard-1.png" });
  execSync(feed);
  await page.waitForFunction(b => document.querySelector("#chart").getAttribute("data-rows") !== b,
                             before, { timeout: 20000 });
  const after = await page.getAttribute("#chart", "data-rows");
  const total = s => JSON.parse(s).reduce((a, d) => a + d[1], 0);
  if (!(total(after) > total(before))) fail(`chart total did not grow: ${before} -> ${after}`);
  console.log(`ok   chart changed as files landed: total ${total(before)} -> ${total(after)}`);
  const batches = await page.textContent("#s-batches");
  if (!(Number(batches) > 0)) fail("progress shows no batch: " + batches);
  console.log("ok   progress figures: batches " + batches + ", rows/s " + await page.textContent("#s-rate"));
  await page.screenshot({ path: shots + "/dashboard-2.png" });
  await page.fill("#sql", "SELECT category, n FROM totals WHERE category = 'c1'");
  await page.click("#run");
  await page.waitForSelector("#rowcount", { timeout: 20000 });
  const cells = await page.$$eval("#result table tr", trs => trs.map(tr => [...tr.children].map(td => td.textContent)));
  if (cells.length !== 2 || cells[0].join() !== "category,n" || cells[1][0] !== "c1") fail("query box: " + JSON.stringify(cells));
  console.log("ok   query box shows the rows: " + JSON.stringify(cells));
  await page.fill("#sql", "SELECT nope FROM totals");
  await page.click("#run");
  await page.waitForSelector("#result .err", { timeout: 20000 });
  console.log("ok   query box shows the error: " + (await page.textContent("#result .err")).slice(0, 60));
  await page.screenshot({ path: shots + "/dashboard-3.png" });
  if (errors.length) fail("page errors: " + errors.join("; "));
} finally {
  await browser.close();
  fs.rmSync(udd, { recursive: true, force: true });
}
