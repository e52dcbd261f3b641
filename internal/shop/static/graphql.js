// The two ways a storefront talks to the service: queries and mutations as
// an HTTP POST to /graphql, and subscriptions over a websocket speaking
// graphql-transport-ws (PROTOCOL.md of the graphql-ws project): about forty
// lines, so no library is needed.

// GraphQLError is a top-level GraphQL error. Its code is the
// extensions.code the service sets (NOT_FOUND, RATE_LIMITED, …): problems
// the user cannot fix in a form. Problems they can fix come back as
// userErrors inside the data instead, and are handled by each page.
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.code = errors[0]?.extensions?.code || '';
  }
}

// gql runs a query or mutation and returns its data.
export async function gql(query, variables = {}) {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json().catch(() => null);
  if (body?.errors?.length) throw new GraphQLError(body.errors);
  if (!res.ok || !body?.data) throw new Error(`the service answered ${res.status}`);
  return body.data;
}

// subscribe starts one subscription and keeps it running until the
// returned function is called: onData gets each event's data, onState
// 'connecting' | 'live' | 'reconnecting', onError a final GraphQLError.
// A dropped connection is retried; the service sends the current state
// as the first event of orderStatusChanged, so nothing is missed.
export function subscribe(query, variables, { onData, onState = () => {}, onError = () => {} }) {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
  let ws;
  let stopped = false;
  let retry = 0;

  function connect() {
    onState(retry ? 'reconnecting' : 'connecting');
    ws = new WebSocket(url, 'graphql-transport-ws');
    const send = (msg) => ws.send(JSON.stringify(msg));
    // A guest needs no token on the connection: the order's access token
    // travels as an argument. A signed-in customer would put
    // { Authorization: 'Bearer …' } in this payload.
    ws.onopen = () => send({ type: 'connection_init', payload: {} });
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      switch (msg.type) {
        case 'connection_ack':
          retry = 0;
          onState('live');
          send({ id: '1', type: 'subscribe', payload: { query, variables } });
          break;
        case 'ping':
          send({ type: 'pong' });
          break;
        case 'next':
          if (msg.payload.errors?.length) onError(new GraphQLError(msg.payload.errors));
          else onData(msg.payload.data);
          break;
        case 'error': // the operation was refused and is over
          stopped = true;
          onError(new GraphQLError(msg.payload));
          ws.close(1000);
          break;
        case 'complete': // the server ended the stream (e.g. shutting down)
          ws.close(1000);
          break;
      }
    };
    ws.onclose = () => {
      if (stopped) return;
      // Back off 1 s, 2 s, 4 s … up to 30 s.
      setTimeout(() => stopped || connect(), Math.min(30000, 1000 * 2 ** retry++));
      onState('reconnecting');
    };
  }

  connect();
  return () => {
    stopped = true;
    ws.close(1000);
  };
}
