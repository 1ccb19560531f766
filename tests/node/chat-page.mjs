// Drives the chat test page in Debian's Chromium with playwright-core.
//
//   node tests/node/chat-page.mjs PAGE_URL ACTION ARTIFACT_DIR
//
// Connects, sends a message, waits for the streamed echo answer, sends an unknown action
// and waits for its error. Exits 0 on success; on failure it keeps a screenshot in
// ARTIFACT_DIR and exits 1.
import { launch, shooter } from "./browser.mjs";

const [pageUrl, action, artifacts] = process.argv.slice(2);
const question = "streamed word by word through the local gateway";

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
const shot = shooter(page, artifacts);
let failed = false;
try {
  await page.goto(pageUrl);
  await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
  await page.click("#connect");
  await page.waitForFunction(() => document.querySelector("#status").textContent === "connected", null, { timeout: 10_000 });

  await page.fill("#action", action);
  await page.fill("#data", question);
  await page.click("#send");
  // Chunks arrive before the answer is done: the text grows while streaming.
  await page.waitForFunction(
    (q) => { const t = document.querySelector(".answer .text"); return t && t.textContent.length > 0 && t.textContent.length < q.length; },
    question, { timeout: 10_000 },
  );
  await page.waitForSelector(".answer.done", { timeout: 15_000 });
  const answer = await page.textContent(".answer.done .text");
  if (answer !== question) throw new Error(`the answer is ${JSON.stringify(answer)}, not the echo`);

  await page.fill("#action", "dance");
  await page.click("#send");
  const error = await page.waitForSelector(".answer.error[data-code=unknown_action]", { timeout: 10_000 });
  const text = await error.textContent();
  if (!text.includes(action)) throw new Error(`the error does not list the valid actions: ${text}`);
  console.log(`ok: streamed answer and unknown_action error shown; screenshot ${await shot("chat-ok.png")}`);
} catch (e) {
  failed = true;
  let where = "";
  try { where = ` (screenshot ${await shot("chat-failure.png")})`; } catch { /* page gone */ }
  console.error(`browser test failed: ${e.message}${where}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
