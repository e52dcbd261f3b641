// The storefront's entry point: a hash router (#/, #/product/<handle>,
// #/cart, #/checkout, #/order/<number>) that renders one page module at a
// time into <main id="view">. Hash routes need nothing from the server
// beyond /shop/, so the pages are plain files.
import * as cart from './cart.js';
import { h } from './dom.js';
import catalog from './catalog.js';
import product from './product.js';
import cartPage from './cartpage.js';
import checkout from './checkout.js';
import order from './order.js';

const view = document.getElementById('view');
let leave = null; // the current page's cleanup (the order page's subscription)
let shown = 0; // counts renders, so a page that finishes loading late is dropped

// route maps a hash to a page and its parameters.
function route() {
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case undefined: return [catalog, params];
    case 'product': return [product, parts[1]];
    case 'cart': return [cartPage];
    case 'checkout': return [checkout];
    case 'order': return [order, parts[1]];
    default: return [notFound];
  }
}

async function render() {
  if (leave) leave();
  leave = null;
  const mine = ++shown;
  const [page, arg] = route();
  const el = h('div');
  view.replaceChildren(el);
  document.getElementById('q').value = page === catalog ? arg.get('search') || '' : '';
  try {
    const cleanup = await page(el, arg);
    if (mine === shown) leave = cleanup || null;
    else if (cleanup) cleanup(); // the user has moved on meanwhile
  } catch (e) {
    el.replaceChildren(h('p.notice', {}, `Something went wrong: ${e.message}`));
  }
  window.scrollTo(0, 0);
}

function notFound(el) {
  el.append(h('h1', {}, 'Page not found'), h('a', { href: '#/' }, 'Back to the catalog'));
}

// The header's search box starts a new catalog search.
document.getElementById('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const search = document.getElementById('q').value.trim();
  location.hash = '#/' + (search ? '?' + new URLSearchParams({ search }) : '');
});

document.addEventListener('cart', (e) => {
  document.getElementById('cart-count').textContent = e.detail;
});

window.addEventListener('hashchange', render);
render();
cart.load().catch(() => {}); // the header's count; a failure leaves 0
