/** What a refused request said (its error's code and message), to compare two refusals; throws if it was not refused. */
export async function refusal(p: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: unknown }).code, message: (e as Error).message };
  }
  throw new Error('expected a refusal');
}
