// The one piece of memory a worker thread and the daemon's main thread share: the state of the
// request the worker is running, so that exactly one of them writes its reply. The worker claims
// it when the request is done; the main thread claims it when the request has run far past its
// deadline (or on `stop --force`) and answers the caller itself. Whoever loses writes nothing.
export const IDLE = 0;
export const RUNNING = 1;
export const REPLIED = 2;
export const ABANDONED = 3;

export const newSlot = () => new Int32Array(new SharedArrayBuffer(4));

export const setState = (slot: Int32Array, s: number) => Atomics.store(slot, 0, s);
export const stateOf = (slot: Int32Array) => Atomics.load(slot, 0);

/** The worker's claim: true when it may write the reply. */
export const claimReply = (slot: Int32Array) => Atomics.compareExchange(slot, 0, RUNNING, REPLIED) === RUNNING;

/** The main thread's claim: true when it must answer for the worker. */
export const abandon = (slot: Int32Array) => Atomics.compareExchange(slot, 0, RUNNING, ABANDONED) === RUNNING;
