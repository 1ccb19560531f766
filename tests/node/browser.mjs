// What the page scripts share: Debian's Chromium (never a downloaded browser), headless, and
// screenshots kept in an artifact folder.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** Chromium with the flags every test run uses, plus `extraArgs`. */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ...extraArgs,
    ],
  });
}

/** `shot(name)` saves a full-page screenshot of `page` in `artifacts` and returns its path. */
export function shooter(page, artifacts) {
  return async (name) => {
    mkdirSync(artifacts, { recursive: true });
    const path = join(artifacts, name);
    await page.screenshot({ path, fullPage: true });
    return path;
  };
}
