// Drives the chat test page in Debian's Chromium against a server that checks tokens.
//
//   node tests/node/signin-page.mjs PAGE_URL TOKEN ACTION ARTIFACT_DIR
//
// Without a token the page is refused and says so; opened as the banner's signed-in page
// (PAGE_URL#token=TOKEN) it takes the token out of the address bar, connects and streams an
// answer. The token never appears in the page's log. Exits 0 on success; on failure it keeps
// a screenshot in ARTIFACT_DIR and exits 1.
import { launch, shooter } from "./browser.mjs";

const [pageUrl, token, action, artifacts] = process.argv.slice(2);
const question = "only for signed-in users";

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
const shot = shooter(page, artifacts);
let failed = false;
try {
  // Not signed in: refused, and told why.
  await page.goto(pageUrl);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  await page.click("#connect");
  await page.waitForFunction(() => document.querySelector("#log").textContent.includes("refused the connection"), null, { timeout: 10_000 });
  const status = await page.textContent("#status");
  if (status === "connected") throw new Error("connected without a token");

  // The banner's signed-in page, pasted into the tab that is open already (only the fragment
  // changes: no reload).
  await page.goto(`${pageUrl}#token=${token}`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  await page.waitForFunction(() => location.hash === "", null, { timeout: 5_000 });
  const [hash, field] = await page.evaluate(() => [location.hash, document.querySelector("#token").value]);
  if (hash !== "") throw new Error(`the token stays in the address bar: ${hash.slice(0, 20)}...`);
  if (field !== token) throw new Error("the token field was not filled from the fragment");
  await page.click("#connect");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "connected", null, { timeout: 10_000 });
  await page.fill("#action", action);
  await page.fill("#data", question);
  await page.click("#send");
  await page.waitForSelector(".answer.done", { timeout: 15_000 });
  const answer = await page.textContent(".answer.done .text");
  if (answer !== question) throw new Error(`the answer is ${JSON.stringify(answer)}, not the echo`);
  const log = await page.textContent("#log");
  if (log.includes(token)) throw new Error("the token is in the page's log");
  console.log(`ok: refused without a token, signed in with it; screenshot ${await shot("signin-ok.png")}`);
} catch (e) {
  failed = true;
  let where = "";
  try { where = ` (screenshot ${await shot("signin-failure.png")})`; } catch { /* page gone */ }
  console.error(`browser test failed: ${e.message}${where}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
