// The order page: order(orderNumber, accessToken) once, then the
// orderStatusChanged subscription keeps the status current without a
// reload (PENDING → PROCESSING/PAID → FULFILLED …).
import { gql, subscribe } from './graphql.js';
import { h, money } from './dom.js';
import { payWithStripe } from './payment.js';

const TOKENS = 'shop.orderTokens';
const MONEY = 'amount currencyCode';
const QUERY = `query($n: String!, $t: String) { order(orderNumber: $n, accessToken: $t) {
  orderNumber email status paymentStatus fulfillmentStatus paymentClientSecret createdAt
  carrier trackingNumber trackingUrl
  lines { sku name variantTitle quantity unitPrice { ${MONEY} } lineTotal { ${MONEY} } }
  subtotal { ${MONEY} } discount { ${MONEY} } shippingCost { ${MONEY} } tax { ${MONEY} } total { ${MONEY} }
  shippingAddress { firstName lastName line1 line2 city region postalCode countryCode }
  events { type message createdAt }
} }`;
const LIVE = `subscription($n: String!, $t: String) { orderStatusChanged(orderNumber: $n, accessToken: $t) {
  status paymentStatus fulfillmentStatus timestamp
} }`;

// An order's access token is what lets a guest read it and follow it. It
// is kept per order number in this browser; anyone holding it can see the
// order, so it is not put in the URL, where it would end up in history,
// screenshots and shared links.
export function saveAccessToken(number, token) {
  const all = JSON.parse(localStorage.getItem(TOKENS) || '{}');
  all[number] = token;
  localStorage.setItem(TOKENS, JSON.stringify(all));
}

function accessToken(number) {
  return JSON.parse(localStorage.getItem(TOKENS) || '{}')[number] || null;
}

export default async function order(el, number) {
  const token = accessToken(number);
  // Without the token (another browser) the lookup finds nothing: a failed
  // lookup looks exactly like a missing order, by design.
  const { order: o } = await gql(QUERY, { n: number, t: token });
  if (!o) {
    el.append(h('h1', {}, 'Order not found'), h('p', {}, 'This browser has no access to that order.'));
    return;
  }
  const badges = {
    status: h('span.status'), paymentStatus: h('span.status'), fulfillmentStatus: h('span.status'),
  };
  const live = h('span.live', { id: 'live' }, 'connecting…');
  const timeline = h('ol.timeline', {}, o.events.map((e) => event(e.createdAt, e.type, e.message)));
  const payment = h('div');
  const root = h('div', { id: 'order' },
    h('h1', {}, `Order ${o.orderNumber}`),
    h('p.count', {}, `Thank you! A receipt goes to ${o.email}. `, live),
    h('div.statuses', {},
      h('div', {}, 'Order', badges.status),
      h('div', {}, 'Payment', badges.paymentStatus),
      h('div', {}, 'Fulfilment', badges.fulfillmentStatus)),
    payment,
    h('div.checkout', {},
      h('div', {}, lines(o), h('h2', {}, 'Timeline'), timeline),
      h('div.panel', {}, h('h2', {}, 'Ships to'), address(o.shippingAddress),
        o.trackingNumber && h('p', {}, `Tracking: ${o.carrier || ''} `,
          o.trackingUrl ? h('a', { href: o.trackingUrl, rel: 'noreferrer' }, o.trackingNumber) : o.trackingNumber))));
  el.append(root);

  // update shows a state on the badges; data-* attributes let tests and
  // styles select on it.
  const update = (s) => {
    for (const k of Object.keys(badges)) {
      badges[k].textContent = s[k];
      badges[k].className = 'status ' + tone(s[k]);
      root.dataset[k] = s[k];
    }
    if (s.paymentStatus !== 'PENDING' && s.paymentStatus !== 'FAILED') payment.replaceChildren();
  };
  update(o);
  await showPayment(payment, o);

  // The subscription's first event is the current state, so a change made
  // between the query and the subscription is never missed.
  let last = `${o.status}/${o.paymentStatus}/${o.fulfillmentStatus}`;
  return subscribe(LIVE, { n: number, t: token }, {
    onState: (state) => {
      live.dataset.state = state;
      live.textContent = { connecting: 'connecting…', live: 'live updates on', reconnecting: 'reconnecting…' }[state];
    },
    onData: ({ orderStatusChanged: s }) => {
      const now = `${s.status}/${s.paymentStatus}/${s.fulfillmentStatus}`;
      if (now !== last) timeline.append(event(s.timestamp, 'LIVE', `order ${s.status}, payment ${s.paymentStatus}, ${s.fulfillmentStatus}`));
      last = now;
      update(s);
    },
    onError: (e) => (live.textContent = `live updates stopped: ${e.message}`),
  });
}

// showPayment offers the payment form while the order awaits payment.
// With the dummy provider there is nothing to do: it confirms the payment
// by itself a few seconds after checkout. With Stripe, the Payment Element
// confirms the PaymentIntent with the client secret; either way the order
// turns PAID only when the service hears it from the provider (the
// webhook), never because the browser says so.
async function showPayment(el, o) {
  if (o.status !== 'PENDING' || o.paymentStatus === 'PAID') return;
  const { stripe } = await fetch('/shop/config.json').then((r) => r.json());
  if (stripe && o.paymentClientSecret) {
    await payWithStripe(el, stripe, o.paymentClientSecret, location.href);
  } else if (stripe) {
    // The service creates the PaymentIntent right after checkout and
    // retries if Stripe is slow; the secret then appears on the order.
    el.append(h('p.notice.info', {}, 'Preparing the payment form; reload this page in a moment.'));
  } else {
    el.append(h('p.notice.info', {}, 'Awaiting payment. The demo payment provider confirms it by itself in a few seconds; watch the status change.'));
  }
}

function tone(s) {
  if (['PAID', 'PROCESSING', 'FULFILLED', 'DELIVERED'].includes(s)) return 'good';
  if (['CANCELLED', 'FAILED', 'REFUNDED'].includes(s)) return 'bad';
  return '';
}

function event(at, type, message) {
  return h('li', {}, h('time', { dateTime: at }, new Date(at).toLocaleString()), type, message && ` — ${message}`);
}

function lines(o) {
  const row = (label, m, strong) => h('tr', {}, h('td', { colSpan: 3 }, strong ? h('strong', {}, label) : label), h('td.num', {}, money(m)));
  return h('table.lines', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Item'), h('th.num', {}, 'Price'), h('th.num', {}, 'Qty'), h('th.num', {}, 'Total'))),
    h('tbody', {},
      o.lines.map((l) => h('tr', {}, h('td', {}, l.variantTitle === 'Default' ? l.name : `${l.name} (${l.variantTitle})`), h('td.num', {}, money(l.unitPrice)), h('td.num', {}, l.quantity), h('td.num', {}, money(l.lineTotal)))),
      row('Subtotal', o.subtotal), row('Shipping', o.shippingCost), row('Tax', o.tax), row('Total', o.total, true)));
}

function address(a) {
  return h('p', {}, [`${a.firstName} ${a.lastName}`, a.line1, a.line2, `${a.postalCode} ${a.city}`, a.region, a.countryCode]
    .filter(Boolean).flatMap((s) => [s, h('br')]));
}
