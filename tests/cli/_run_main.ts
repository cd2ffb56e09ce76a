/**
 * Runs `main.ts` as a subprocess for the CLI tests, with given permissions.
 */

const main = new URL("../../main.ts", import.meta.url).pathname;

/** `deno run <permissions> main.ts <args>`: its exit code and output as text. */
export async function runMain(
  args: string[],
  permissions: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, main, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  };
}
