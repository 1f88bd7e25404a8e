// The error a call throws, for tests that check its fields; failing the test when nothing is thrown.
export function caught<E = Error>(fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    return e as E;
  }
  throw new Error("expected an error");
}
