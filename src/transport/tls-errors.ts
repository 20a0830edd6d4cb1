/**
 * What a TLS failure means for the person reading the log, and which setting to look at.
 * OpenSSL's own text ("0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate
 * required") says what happened at the protocol level, not what to change.
 */

/** The broker's certificate did not verify against the trusted CAs (node's verify error codes). */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/** Alerts a broker sends when it does not accept our client certificate. */
const CLIENT_CERT_REJECTED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/**
 * A plain-English explanation of a TLS error with the setting to check, or undefined when the
 * error is not TLS-specific (ECONNREFUSED, ETIMEDOUT: the caller's message is clear enough).
 * `inHandshake`: the error ended the handshake, before the connection was handed over.
 */
export function explainTlsError(err: NodeJS.ErrnoException, host: string, inHandshake = false): string | undefined {
  const code = err.code ?? '';
  if (inHandshake && (code === 'ECONNRESET' || code === 'EPIPE')) {
    // A plain MQTT listener reads our ClientHello as a malformed packet and drops the connection.
    return `the broker closed the connection during the TLS handshake (${err.message}): is the port in mqtt.url a TLS port (usually 8883) and not plain MQTT (1883)?`;
  }
  if (UNTRUSTED.has(code)) {
    return `certificate verify failed (${err.message}): the broker's certificate is not signed by a CA we trust; check mqtt.tls.ca (the CA file that signed the broker's certificate; without it the system's CAs are used)`;
  }
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return "certificate verify failed: the broker's certificate has expired, or this device's clock is wrong (check `date`; a board without a battery-backed clock needs NTP before connecting)";
    case 'CERT_NOT_YET_VALID':
      return "certificate verify failed: the broker's certificate is not valid yet; this device's clock is probably wrong (check `date` and NTP)";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `certificate verify failed: the broker's certificate is not issued for ${host} (${err.message}); the host in mqtt.url must be a name the certificate lists`;
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
      return 'the broker requires a client certificate: set mqtt.tls.cert and mqtt.tls.key (mutual TLS)';
    case 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE':
      return 'the broker ended the TLS handshake: it may require a client certificate (mqtt.tls.cert and mqtt.tls.key), or it shares no TLS version or cipher with us';
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
      return 'the broker did not answer with TLS: is the port in mqtt.url a TLS port (usually 8883) and not plain MQTT (1883)?';
    case 'ERR_OSSL_X509_KEY_VALUES_MISMATCH':
      return 'mqtt.tls.key is not the private key of the certificate in mqtt.tls.cert';
  }
  if (CLIENT_CERT_REJECTED.has(code)) {
    return `the broker rejected our client certificate (${code.replace(/^ERR_SSL_(SSLV3|TLSV1)_ALERT_/, '').toLowerCase().replaceAll('_', ' ')}): check mqtt.tls.cert is signed by a CA the broker trusts, is not expired, and is registered/active on the broker`;
  }
  if (code.startsWith('ERR_OSSL_PEM_') || code.startsWith('ERR_OSSL_ASN1_') || code === 'ERR_OSSL_UNSUPPORTED') {
    return `a file in mqtt.tls (ca, cert or key) is not a valid PEM certificate or key (${err.message})`;
  }
  return undefined;
}
