/**
 * Headless Chromium (Debian's `chromium`) for the status-page tests: the
 * rendered DOM and a screenshot, through its command line.
 *
 * @module
 */

/** Where Debian installs it. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is installed. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs headless Chromium on `url` with a fresh profile: the flags keep it
 * off the network (this machine's is closed) and from prompting. Virtual
 * time lets the page's timers and fetches run for `budgetMs` before the
 * DOM is dumped or the screenshot taken; the run is bounded to 60 s.
 */
export async function chromium(
  url: string,
  mode: { dumpDom: true } | { screenshot: string; width: number; height: number },
  budgetMs = 4000,
): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "sda-chromium-" });
  try {
    const args = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      "--hide-scrollbars",
      `--user-data-dir=${profile}`,
      `--virtual-time-budget=${budgetMs}`,
      ...("dumpDom" in mode
        ? ["--dump-dom"]
        : [`--screenshot=${mode.screenshot}`, `--window-size=${mode.width},${mode.height}`]),
      url,
    ];
    const output = await new Deno.Command(CHROMIUM, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `chromium exited ${output.code}: ${new TextDecoder().decode(output.stderr).slice(-2000)}`,
      );
    }
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
