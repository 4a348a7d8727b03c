import { busTransportSuite } from '../conformance/bus-transport.js';
import { memoryNetwork } from '../../src/bus/index.js';

busTransportSuite('memory', async () => {
  const net = memoryNetwork();
  return { peer: async (opts) => net.peer(opts), ns: (n) => n, close: async () => {} };
});
