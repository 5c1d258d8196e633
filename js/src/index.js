// rmq: an Apache RocketMQ client, the rmq core compiled to WebAssembly.
export { Producer } from './producer.js';
export { PushConsumer, ConsumeResult } from './consumer.js';
export { RmqError } from './errors.js';
