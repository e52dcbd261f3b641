// The Playground: GraphiQL against this service's own /graphql endpoint.
// Queries and mutations go over HTTP POST; subscriptions over a
// graphql-transport-ws websocket to the same origin (wss: when the page
// is served over https:). A token in the Headers tab
// ({"Authorization": "Bearer …"}) is sent with every request, and in the
// websocket's connection_init payload.
(function () {
  'use strict';
  var endpoint = location.origin + '/graphql';
  var wsEndpoint = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/graphql';
  var defaultQuery = [
    '# The Commerce API. Press the run button (or Ctrl-Enter) to send the query;',
    '# the Docs button on the left lists every type and field.',
    '# Staff fields need a token: run staffLogin, then put',
    '# {"Authorization": "Bearer <token>"} in the Headers tab below.',
    '',
    '{',
    '  products(first: 5) {',
    '    edges {',
    '      node {',
    '        name',
    '        price { amount currencyCode }',
    '      }',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  var fetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: wsEndpoint });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false
  }));
})();
