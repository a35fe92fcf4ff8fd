// The serve bench's load generator, run as a child process (so its work is not the server's):
// argv[2] is a JSON spec { url, connections, durationSec, body, headers }; prints autocannon's
// summary as one JSON line on stdout.
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);
const result = await autocannon({
  url: spec.url,
  method: 'POST',
  connections: spec.connections,
  duration: spec.durationSec,
  body: spec.body,
  headers: { 'content-type': 'application/json', ...spec.headers },
});
process.stdout.write(
  JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    duration: result.duration,
  }) + '\n',
);
