// The cart lives on the server; the browser keeps only its id. Whoever
// holds the id may use the cart, so it stays in this browser's
// localStorage and is never put in a URL.
import { gql } from './graphql.js';

const KEY = 'shop.cartId';
const MONEY = 'amount currencyCode';
export const CART_FIELDS = `id
  lines { id quantity unitPrice { ${MONEY} } lineTotal { ${MONEY} }
          product { id handle name hasOnlyDefaultVariant images { url altText } }
          variant { id title availableQuantity } }
  subtotal { ${MONEY} } discount { ${MONEY} } tax { ${MONEY} } shippingCost { ${MONEY} } total { ${MONEY} }`;

// Every cart mutation answers with the cart and userErrors (e.g.
// INSUFFICIENT_STOCK on ["lines","0","quantity"]): the caller shows them.
const PAYLOAD = `cart { ${CART_FIELDS} } userErrors { field message code }`;

export function cartId() {
  return localStorage.getItem(KEY);
}

// forget drops the id: after checkout the cart is completed and refuses
// changes, and an unknown id (expired, another database) is useless.
export function forget() {
  localStorage.removeItem(KEY);
  notify(null);
}

// load returns the current cart, or null when there is none.
export async function load() {
  const id = cartId();
  if (!id) return null;
  const cart = await gql(`query($id: ID!) { cart(id: $id) { ${CART_FIELDS} } }`, { id })
    .then((d) => d.cart, (e) => { if (e.code === 'NOT_FOUND') return null; throw e; });
  if (!cart) forget();
  notify(cart);
  return cart;
}

// add puts quantity of a variant (ref is { variantId }, or { productId }
// for a product without options) in the cart, creating the cart on first
// use. Adding a variant already in the cart adds to its line.
export async function add(ref, quantity) {
  const lines = [{ ...ref, quantity }];
  const id = cartId();
  if (id) {
    const r = await gql(`mutation($id: ID!, $lines: [CartLineInput!]!) { cartLinesAdd(cartId: $id, lines: $lines) { ${PAYLOAD} } }`, { id, lines })
      .then((d) => d.cartLinesAdd, (e) => { if (e.code === 'NOT_FOUND') return null; throw e; });
    // A cart checked out in another tab, or gone, is replaced by a new one.
    if (r && !r.userErrors.some((u) => u.code === 'CART_COMPLETED')) {
      if (r.cart) notify(r.cart);
      return r;
    }
    forget();
  }
  const r = (await gql(`mutation($lines: [CartLineInput!]) { cartCreate(lines: $lines) { ${PAYLOAD} } }`, { lines })).cartCreate;
  if (r.cart) {
    localStorage.setItem(KEY, r.cart.id);
    notify(r.cart);
  }
  return r;
}

// update sets a line's quantity (0 removes it).
export async function update(lineId, quantity) {
  const r = (await gql(`mutation($id: ID!, $lines: [CartLineUpdateInput!]!) { cartLinesUpdate(cartId: $id, lines: $lines) { ${PAYLOAD} } }`,
    { id: cartId(), lines: [{ id: lineId, quantity }] })).cartLinesUpdate;
  if (r.cart) notify(r.cart);
  return r;
}

export async function remove(lineId) {
  const r = (await gql(`mutation($id: ID!, $ids: [ID!]!) { cartLinesRemove(cartId: $id, lineIds: $ids) { ${PAYLOAD} } }`,
    { id: cartId(), ids: [lineId] })).cartLinesRemove;
  if (r.cart) notify(r.cart);
  return r;
}

// notify tells the page header how many items the cart holds.
function notify(cart) {
  const count = cart ? cart.lines.reduce((n, l) => n + l.quantity, 0) : 0;
  document.dispatchEvent(new CustomEvent('cart', { detail: count }));
}
