// Drives the chat test page in Debian's Chromium with playwright-core.
//
//   node tests/node/chat-page.mjs PAGE_URL ACTION ARTIFACT_DIR
//
// Connects, sends a message, waits for the streamed echo answer, sends a second message
// (the echo shows it saw the first: the page continues the conversation), stops a long
// answer with its Stop button, sends an unknown action and waits for its error. Exits 0 on
// success; on failure it keeps a screenshot in ARTIFACT_DIR and exits 1.
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

  // The page sends the conversation's id with the next message: the answer saw the first.
  await page.fill("#data", "and then?");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelectorAll(".answer.done").length === 2, null, { timeout: 15_000 });
  const second = await page.textContent(".answer.done .text");
  if (!second.includes(`before, you said: "${question}"`)) throw new Error(`the second answer did not see the first: ${JSON.stringify(second)}`);

  // A long answer, stopped with its Stop button: done with stopReason cancelled, cut short.
  const long = Array.from({ length: 120 }, (_, i) => `w${i}`).join(" ");
  await page.fill("#data", long);
  await page.click("#send");
  await page.waitForFunction(
    () => { const a = document.querySelector(".answer:not(.done) .text"); return a && a.textContent.length > 0; },
    null, { timeout: 10_000 },
  );
  await page.click(".answer:not(.done) button.stop");
  await page.waitForSelector(".answer.stopped", { timeout: 10_000 });
  const stopped = await page.textContent(".answer.stopped .text");
  const meta = await page.textContent(".answer.stopped .meta");
  if (!meta.includes("stopped (cancelled)") || stopped.length >= long.length || !long.startsWith(stopped)) {
    throw new Error(`the stopped answer: ${meta}: ${JSON.stringify(stopped)}`);
  }
  if (await page.$(".answer button.stop")) throw new Error("a Stop button outlived its answer");

  await page.fill("#action", "dance");
  await page.click("#send");
  const error = await page.waitForSelector(".answer.error[data-code=unknown_action]", { timeout: 10_000 });
  const text = await error.textContent();
  if (!text.includes(action)) throw new Error(`the error does not list the valid actions: ${text}`);
  console.log(`ok: streamed answer, the conversation continued, a stopped answer and unknown_action error shown; screenshot ${await shot("chat-ok.png")}`);
} catch (e) {
  failed = true;
  let where = "";
  try { where = ` (screenshot ${await shot("chat-failure.png")})`; } catch { /* page gone */ }
  console.error(`browser test failed: ${e.message}${where}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
