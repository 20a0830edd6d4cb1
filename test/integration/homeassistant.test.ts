/**
 * Home Assistant discovery with the real CLI against mosquitto: retained configs whose state
 * topics and templates match what the pipeline publishes, republished when Home Assistant
 * announces itself, fields of a json serial source announced as they are first seen, and
 * availability going offline by the will after kill -9.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker } from '../support/broker.js';
import { createPty } from '../support/pty.js';
import { startSubscriber, topicMatches } from '../support/subscriber.js';
import type { ReceivedMessage } from '../support/subscriber.js';
import { sleep, waitUntil, withTimeout } from '../support/wait.js';
import { agentFixture, logMsg, waitForRetained } from './harness.js';

type Config = Record<string, unknown>;

const configsOf = (messages: readonly ReceivedMessage[]): Map<string, Config> =>
  new Map(messages.filter((m) => topicMatches('homeassistant/+/+/+/config', m.topic)).map((m) => [m.topic, JSON.parse(m.payload.toString()) as Config]));

/** Renders the two template forms discovery uses, as Home Assistant would for these payloads. */
function render(template: unknown, payload: Buffer): unknown {
  const match = /^\{\{ value_json(\[-1\])?\['([^']+)'\] \}\}$/.exec(String(template));
  assert.ok(match, `unexpected template ${String(template)}`);
  const value = JSON.parse(payload.toString()) as Record<string, unknown> | Array<Record<string, unknown>>;
  const reading = Array.isArray(value) ? value[value.length - 1] : value;
  return reading?.[match[2] ?? ''];
}

async function publishOnce(url: string, topic: string, payload: string, retain = false): Promise<void> {
  const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  try {
    await withTimeout(new Promise<void>((resolve) => client.once('connect', () => resolve())), 10_000, 'connect to publish');
    await withTimeout(client.publishAsync(topic, payload, { qos: 1, retain }), 10_000, `publish ${topic}`);
  } finally {
    await client.endAsync(true);
  }
}

void test('discovery: retained configs matching the pipeline topics, republished on homeassistant/status online, new json fields announced, offline after kill -9', { timeout: 90_000 }, async (t) => {
  const broker = await startBroker({ t, verbose: false });
  const pty = await createPty({ t });
  const fx = await agentFixture({
    url: broker.url,
    t,
    sources: [
      { type: 'simulated', name: 'sim', interval: '200ms' },
      { type: 'simulated', name: 'probe', interval: '200ms', publish: { mode: 'field', topic: 'home/{device}/{source}/{field}' } },
      { type: 'serial', name: 'wx', path: pty.path, parser: { type: 'json' }, fields: { t: { rename: 'temperature', unit: 'C' } } },
    ],
    extra: { homeassistant: { discovery: true } },
  });
  const node = fx.deviceId;
  const dataTopics = [`sensorgate/${node}/sim`, `home/${node}/probe/+`, `sensorgate/${node}/wx`];
  const data = await startSubscriber({ url: broker.url, topic: dataTopics, t });
  const agent = fx.start();
  await agent.waitForLog(logMsg('discovery configs published'), 15_000);

  // A fresh subscriber gets the retained configs, as Home Assistant does when it starts.
  const ha = await startSubscriber({ url: broker.url, topic: 'homeassistant/#', t });
  await ha.waitFor((ms) => configsOf(ms).size >= 7, 10_000, '7 retained configs');
  const configs = configsOf(ha.messages);
  assert.ok(ha.messages.every((m) => m.retain), 'configs are retained');
  const topic = (source: string, field: string): string => `homeassistant/sensor/${node}/${node}_${source}_${field}/config`;
  assert.deepEqual([...configs.keys()].sort(), [topic('probe', 'humidity'), topic('probe', 'seq'), topic('probe', 'temperature'), topic('sim', 'humidity'), topic('sim', 'seq'), topic('sim', 'temperature'), topic('wx', 'temperature')].sort());
  const simTemp = configs.get(topic('sim', 'temperature')) ?? {};
  assert.equal(simTemp.state_topic, `sensorgate/${node}/sim`);
  assert.equal(simTemp.unit_of_measurement, '°C');
  assert.equal(simTemp.device_class, 'temperature');
  assert.equal(simTemp.availability_topic, fx.statusTopic);
  assert.equal(simTemp.payload_available, 'online');
  assert.equal(simTemp.payload_not_available, 'offline');
  assert.deepEqual((simTemp.device as Config).identifiers, [`sensorgate_${node}`]);
  assert.equal(configs.get(topic('wx', 'temperature'))?.unit_of_measurement, '°C', 'the unit from fields:, as Home Assistant spells it');
  const probeHum = configs.get(topic('probe', 'humidity')) ?? {};
  assert.equal(probeHum.state_topic, `home/${node}/probe/humidity`);
  assert.equal('value_template' in probeHum, false, 'field mode: the plain value');

  // The topics and templates read real values off what the pipeline publishes.
  await data.waitFor((ms) => ms.some((m) => m.topic === `sensorgate/${node}/sim`) && ms.some((m) => m.topic === `home/${node}/probe/humidity`), 10_000, 'data on both');
  const simReading = data.messages.find((m) => m.topic === simTemp.state_topic);
  assert.equal(typeof render(simTemp.value_template, simReading?.payload ?? Buffer.alloc(0)), 'number');
  const probeValue = data.messages.find((m) => m.topic === probeHum.state_topic);
  assert.ok(Number.isFinite(Number(probeValue?.payload.toString())), 'a plain number on the field topic');

  // A field the config does not declare is announced when it first shows up.
  await agent.waitForLog(logMsg('serial port opened'), 15_000);
  await pty.write('\n{"t":21.5,"bme":{"p":1013.2}}\n');
  await ha.waitFor((ms) => configsOf(ms).size >= 8, 10_000, 'the dynamic field config');
  const dynamic = [...configsOf(ha.messages).entries()].find(([key]) => key.includes('_wx_bme_p_'));
  assert.ok(dynamic, 'bme.p announced (its id made safe)');
  const wxReading = await data.waitFor((ms) => ms.some((m) => m.topic === `sensorgate/${node}/wx`), 10_000, 'the wx reading');
  assert.equal(render(dynamic[1].value_template, wxReading.find((m) => m.topic === `sensorgate/${node}/wx`)?.payload ?? Buffer.alloc(0)), 1013.2);

  // Home Assistant restarted: every config again (including the one seen in the data).
  const isConfig = (m: ReceivedMessage): boolean => m.topic.endsWith('/config');
  const before = ha.messages.length;
  await publishOnce(broker.url, 'homeassistant/status', 'online');
  await ha.waitFor((ms) => ms.slice(before).filter(isConfig).length >= 8, 10_000, 'configs republished');
  const republished = ha.messages.slice(before).filter(isConfig);
  assert.ok(republished.every((m) => !m.retain), 'delivered live to a subscriber that is already there');
  assert.deepEqual(new Set(republished.map((m) => m.topic)), new Set(configsOf(ha.messages).keys()));
  await publishOnce(broker.url, 'homeassistant/status', 'offline');
  await sleep(500);
  assert.equal(ha.messages.slice(before).filter(isConfig).length, 8, '"offline" republishes nothing');

  // Some setups retain Home Assistant's birth message. Published live it is a birth like any
  // other; but the broker also hands it to every new SUBSCRIBE (retain flag set), and that is
  // not Home Assistant restarting: the connect announces everything anyway.
  await publishOnce(broker.url, 'homeassistant/status', 'online', true);
  await waitUntil(() => agent.lines.filter((l) => l.json?.why === 'Home Assistant came online').length === 2, 10_000, 'the live retained birth answered');

  // The gateway drops: its entities go unavailable by the will.
  await agent.kill9();
  await waitForRetained(broker.url, fx.statusTopic, 'offline', 10_000);
  const again = fx.start();
  await again.waitForLog(logMsg('discovery configs published'), 15_000);
  await waitForRetained(broker.url, fx.statusTopic, 'online', 10_000);
  await sleep(1_000);
  assert.deepEqual(again.lines.filter(logMsg('discovery configs published')).map((l) => l.json?.why), ['connected'], 'the retained birth handed to the new SUBSCRIBE is ignored');
  assert.equal(await again.stop(), 0);
});
