// The cart page: lines with editable quantities, totals priced by the
// server (subtotal, discount, tax, shipping), and the way to checkout.
import * as cart from './cart.js';
import { h, money } from './dom.js';

export default async function cartPage(el) {
  el.append(h('h1', {}, 'Your cart'));
  const body = h('div');
  el.append(body);
  show(body, await cart.load());
}

function show(body, c, problem) {
  if (!c || c.lines.length === 0) {
    body.replaceChildren(h('p', {}, 'Your cart is empty. ', h('a', { href: '#/' }, 'Browse the catalog')));
    return;
  }
  // Each change goes to the server, which answers with the repriced cart
  // or userErrors (e.g. INSUFFICIENT_STOCK), shown above the table.
  const apply = async (action) => {
    try {
      const r = await action();
      show(body, r.cart || c, r.userErrors.map((u) => u.message).join(' '));
    } catch (e) {
      show(body, c, e.message);
    }
  };
  const rows = c.lines.map((l) => {
    const qty = h('input', { type: 'number', min: 0, value: l.quantity, 'aria-label': `Quantity of ${l.product.name}` });
    qty.addEventListener('change', () => apply(() => cart.update(l.id, Number(qty.value))));
    return h('tr', { 'data-line': l.id },
      h('td', {}, h('a', { href: `#/product/${encodeURIComponent(l.product.handle)}` }, l.product.name),
        l.product.hasOnlyDefaultVariant ? '' : h('span.variant', {}, ` (${l.variant.title})`)),
      h('td.num', {}, money(l.unitPrice)),
      h('td.num', {}, qty),
      h('td.num', {}, money(l.lineTotal)),
      h('td.num', {}, h('button.secondary', { type: 'button', onclick: () => apply(() => cart.remove(l.id)) }, 'Remove')));
  });
  body.replaceChildren(
    problem ? h('p.notice', {}, problem) : '',
    h('table.lines', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Product'), h('th.num', {}, 'Price'), h('th.num', {}, 'Quantity'), h('th.num', {}, 'Total'), h('th'))),
      h('tbody', {}, rows)),
    totals(c),
    h('div.actions', {}, h('a.button', { id: 'to-checkout', href: '#/checkout' }, 'Checkout')));
}

// totals shows the server's figures; a storefront never adds them up itself.
export function totals(c) {
  const row = (label, m, cls) => h('div' + (cls ? '.' + cls : ''), {}, h('span', {}, label), h('span', {}, money(m)));
  return h('div.totals', {},
    row('Subtotal', c.subtotal),
    /^[0.]+$/.test(c.discount.amount) ? '' : row('Discount', c.discount),
    row('Shipping', c.shippingCost),
    row('Tax', c.tax),
    row('Total', c.total, 'grand'));
}
