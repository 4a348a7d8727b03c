/**
 * Node's store of handler contexts: an AsyncLocalStorage, so that `await`s inside a handler keep its
 * context. The only bus file that needs `node:async_hooks`; imported for its effect by the entry point.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setContextStore, type BusContext } from './context.js';

const als = new AsyncLocalStorage<BusContext>();
setContextStore({ run: (ctx, f) => als.run(ctx, f), get: () => als.getStore() });
