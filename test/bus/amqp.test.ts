// The transport conformance suite on the real RabbitMQ.
import { busTransportSuite } from '../conformance/bus-transport.js';
import { amqpTestNetwork } from './amqp-helpers.js';

busTransportSuite('amqp', () => amqpTestNetwork('conformance'));
