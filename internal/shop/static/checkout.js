// Checkout: the cart, an email and a shipping address become an order.
import * as cart from './cart.js';
import { gql } from './graphql.js';
import { h, formValues, money } from './dom.js';
import { totals } from './cartpage.js';
import { saveAccessToken } from './order.js';

const MUTATION = `mutation($input: CheckoutInput!) { checkout(input: $input) {
  order { orderNumber }
  orderAccessToken
  userErrors { field message code }
} }`;

// QUOTES gives the cart the address and reads the methods that can ship it.
const QUOTES = `mutation($c: ID!, $a: AddressInput!) { cartShippingAddressUpdate(cartId: $c, address: $a) {
  cart { shippingQuotes { method { id name } price { amount currencyCode } minDeliveryDays maxDeliveryDays } }
  userErrors { field message code }
} }`;

const ADDRESS = [
  ['firstName', 'First name', 'given-name'], ['lastName', 'Last name', 'family-name'],
  ['line1', 'Address', 'address-line1', 'wide'], ['line2', 'Address line 2 (optional)', 'address-line2', 'wide'],
  ['city', 'City', 'address-level2'], ['region', 'State / region (optional)', 'address-level1'],
  ['postalCode', 'Postal code', 'postal-code'], ['countryCode', 'Country (2 letters, e.g. US)', 'country'],
  ['phone', 'Phone (optional)', 'tel'],
];
const OPTIONAL = new Set(['line2', 'region', 'phone']);

export default async function checkout(el) {
  const c = await cart.load();
  if (!c || c.lines.length === 0) {
    el.append(h('h1', {}, 'Checkout'), h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the catalog')));
    return;
  }
  // Field names follow the userError paths: ["input","shippingAddress","city"]
  // is the input named "shippingAddress.city".
  const field = ([name, label, auto, wide], prefix = '') => h('label' + (wide ? '.wide' : ''), {},
    label, h('input', { name: prefix + name, autocomplete: auto, required: !OPTIONAL.has(name) }),
    h('span.field-error', { 'data-for': prefix + name }));
  const notice = h('div');
  // Shown once the store asks for a choice among several shipping methods.
  const methods = h('fieldset.wide', { id: 'shipping-methods', hidden: true });
  const submit = h('button', { id: 'place-order' }, 'Place order');
  const form = h('form.panel', { id: 'checkout-form', novalidate: true },
    h('div.fields', {},
      field(['email', 'Email (for the receipt)', 'email', 'wide']),
      ADDRESS.map((a) => field(a, 'shippingAddress.')), methods),
    notice,
    h('div.actions', {}, submit));

  // One idempotency key per attempt. A network error or a double click
  // resends the same key, and the service answers with the same order
  // instead of placing a second one. An attempt refused with userErrors
  // binds nothing, so the corrected attempt gets a fresh key.
  let idempotencyKey = null;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    idempotencyKey ??= newKey();
    submit.disabled = true;
    showErrors(form, notice, []);
    try {
      const { checkout: r } = await gql(MUTATION, { input: { cartId: c.id, ...input(form), idempotencyKey } });
      if (r.userErrors.length) {
        idempotencyKey = null;
        if (r.userErrors.some((u) => u.code === 'SHIPPING_METHOD_REQUIRED' || u.code === 'SHIPPING_METHOD_UNAVAILABLE')) {
          await showMethods(methods, c.id, input(form).shippingAddress);
        }
        showErrors(form, notice, r.userErrors);
        return;
      }
      // The access token lets this browser, without an account, read the
      // order and follow it live; keep it like a receipt.
      saveAccessToken(r.order.orderNumber, r.orderAccessToken);
      cart.forget(); // the cart is now completed and refuses changes
      location.hash = `#/order/${encodeURIComponent(r.order.orderNumber)}`;
    } catch (err) {
      // CONFLICT: this key already placed an order with other input.
      if (err.code === 'CONFLICT') idempotencyKey = null;
      notice.replaceChildren(h('p.notice', { id: 'checkout-error' },
        `${err.message}. Trying again is safe: it never places a second order.`));
    } finally {
      submit.disabled = false;
    }
  });

  el.append(h('h1', {}, 'Checkout'),
    h('div.checkout', {}, form,
      h('div', {}, h('div.panel', {}, h('h2', {}, 'Order summary'),
        c.lines.map((l) => h('div.count', {}, `${l.quantity} × ${l.product.name}`)), totals(c)))));
  form.elements.email.focus();
}

// showMethods lists the shipping methods for the address as radio buttons
// named shippingMethodId, cheapest first, the first one checked.
async function showMethods(methods, cartId, address) {
  const { cartShippingAddressUpdate: r } = await gql(QUOTES, { c: cartId, a: address });
  const quotes = (r.cart && r.cart.shippingQuotes) || [];
  const days = (q) => q.maxDeliveryDays == null ? '' :
    ` (${q.minDeliveryDays != null && q.minDeliveryDays !== q.maxDeliveryDays ? q.minDeliveryDays + '–' : ''}${q.maxDeliveryDays} days)`;
  methods.replaceChildren(h('legend', {}, 'Shipping method'),
    ...quotes.map((q, i) => h('label', {}, h('input', { type: 'radio', name: 'shippingMethodId', value: q.method.id, checked: i === 0 }),
      ` ${q.method.name}${days(q)}: ${money(q.price)}`)),
    h('span.field-error', { 'data-for': 'shippingMethodId' }));
  methods.hidden = quotes.length === 0;
}

// input turns the form into CheckoutInput's email, shippingAddress and the
// shipping method once one is offered; empty optional fields are left out
// rather than sent as "".
function input(form) {
  const shippingAddress = {};
  const out = { email: '', shippingAddress };
  for (const [k, v] of Object.entries(formValues(form))) {
    const value = v.trim();
    if (k === 'email') out.email = value;
    else if (k === 'shippingMethodId') out.shippingMethodId = value;
    else if (value) shippingAddress[k.replace('shippingAddress.', '')] = value;
  }
  return out;
}

// showErrors puts each userError next to its field, found by the path
// after "input"; errors about the cart or its lines go above the button.
function showErrors(form, notice, errors) {
  form.querySelectorAll('.field-error').forEach((s) => (s.textContent = ''));
  form.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
  const general = [];
  for (const u of errors) {
    const name = (u.field || []).slice(1).join('.');
    const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
    if (slot) {
      slot.textContent = u.message;
      const input = form.elements[name];
      if (input instanceof Element) input.setAttribute('aria-invalid', 'true');
    } else {
      general.push(u.message);
    }
  }
  notice.replaceChildren(general.length ? h('p.notice', { id: 'checkout-error' }, general.join(' ')) : '');
}

// newKey returns a random UUID. crypto.randomUUID needs a secure context
// (https or localhost); getRandomValues works everywhere.
function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
