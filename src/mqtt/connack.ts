/** What each MQTT 3.1.1 CONNACK refusal means for the person reading the log. */
export interface Refusal {
  code: number;
  reason: string;
  hint: string;
  /** Retrying sooner will not help: back off to the maximum delay. */
  persistent: boolean;
}

const REFUSALS: Record<number, Omit<Refusal, 'code'>> = {
  1: { reason: 'unacceptable protocol version', hint: 'the broker does not speak MQTT 3.1.1; check mqtt.url points at an MQTT 3.1.1/5 broker', persistent: true },
  2: { reason: 'client identifier rejected', hint: 'check mqtt.clientId (length, characters) and the broker\'s client id rules', persistent: true },
  3: { reason: 'server unavailable', hint: 'the broker is up but not accepting connections; retrying with normal backoff', persistent: false },
  4: { reason: 'bad user name or password', hint: 'check mqtt.username and mqtt.password / mqtt.passwordFile / SENSORGATE_MQTT_PASSWORD', persistent: true },
  5: { reason: 'not authorized', hint: 'check the broker ACL / policy for this client id and user (and TLS client certificate)', persistent: true },
};

export function describeRefusal(code: number): Refusal {
  const known = REFUSALS[code];
  if (known !== undefined) return { code, ...known };
  return { code, reason: `unknown return code ${code}`, hint: 'the broker sent a code MQTT 3.1.1 does not define', persistent: true };
}
