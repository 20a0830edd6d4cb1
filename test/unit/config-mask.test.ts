import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { formatResolvedConfig, MASK, maskConfig } from '../../src/config/mask.js';
import { PASSWORD_ENV } from '../../src/config/schema.js';

const PASSWORD = 'hunter2-Very-Secret';

async function configWith(mqtt: Record<string, unknown>, env: Record<string, string> = {}) {
  return parseConfig({ device: { id: 'gw' }, mqtt: { url: 'mqtt://broker', ...mqtt } }, { baseDir: '/etc/sensorgate', env });
}

void test('maskConfig replaces the password and keeps where it came from', async () => {
  const config = await configWith({ username: 'sensor', password: PASSWORD });
  const masked = maskConfig(config) as { mqtt: Record<string, unknown> };
  assert.equal(masked.mqtt.password, MASK);
  assert.equal(masked.mqtt.passwordSource, 'config');
  assert.equal(masked.mqtt.username, 'sensor');
  assert.equal(config.mqtt.password, PASSWORD, 'the config itself is not changed');
});

void test('formatResolvedConfig never contains the password', async () => {
  for (const config of [
    await configWith({ password: PASSWORD }),
    await configWith({}, { [PASSWORD_ENV]: PASSWORD }),
    await configWith({ username: PASSWORD, password: PASSWORD }), // token-as-username brokers
    await configWith({ clientId: `gw-${PASSWORD}`, password: PASSWORD }),
  ]) {
    const text = formatResolvedConfig(config);
    assert.ok(!text.includes(PASSWORD), text);
    assert.ok(text.includes(MASK));
  }
});

void test('formatResolvedConfig shows the resolved values as YAML', async () => {
  const text = formatResolvedConfig(await configWith({}, { [PASSWORD_ENV]: PASSWORD }));
  assert.match(text, /^# sensorgate resolved config/);
  assert.match(text, /url: mqtt:\/\/broker:1883/);
  assert.match(text, /keepaliveMs: 60000/);
  assert.match(text, /passwordSource: env/);
  assert.match(text, /topic: sensorgate\/gw\/status/);
});

void test('without a password nothing is masked and no password key appears', async () => {
  const text = formatResolvedConfig(await configWith({ username: 'u' }));
  assert.ok(!text.includes('password'));
  assert.ok(!text.includes(MASK));
});
