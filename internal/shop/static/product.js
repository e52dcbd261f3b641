// A product page: product(handle:) with its images, and "Add to cart".
import * as cart from './cart.js';
import { gql } from './graphql.js';
import { h, money } from './dom.js';
import { image } from './catalog.js';

const MONEY = 'amount currencyCode';
const QUERY = `query($handle: String!) { product(handle: $handle) {
  id handle name description category tags availableQuantity
  price { ${MONEY} } compareAtPrice { ${MONEY} } images { url altText }
} }`;

export default async function product(el, handle) {
  const { product: p } = await gql(QUERY, { handle });
  if (!p) {
    el.append(h('h1', {}, 'Product not found'), h('a', { href: '#/' }, 'Back to the catalog'));
    return;
  }
  const message = h('div');
  const quantity = h('input', { id: 'quantity', type: 'number', min: 1, max: Math.max(1, p.availableQuantity), value: 1, 'aria-label': 'Quantity' });
  const add = h('button', { id: 'add-to-cart', type: 'submit', disabled: p.availableQuantity < 1 }, 'Add to cart');
  const buy = h('form.buy', {}, quantity, add);
  buy.addEventListener('submit', async (e) => {
    e.preventDefault();
    add.disabled = true;
    try {
      // The quantity goes to the server as typed; the server checks it
      // against stock and answers with a userError, not a crash.
      const r = await cart.add(p.id, Number(quantity.value));
      message.replaceChildren(r.userErrors.length
        ? h('p.notice', {}, r.userErrors.map((u) => u.message).join(' '))
        : h('p.notice.info', { id: 'added' }, 'Added to your cart. ', h('a', { href: '#/cart' }, 'View cart')));
    } catch (err) {
      message.replaceChildren(h('p.notice', {}, err.message));
    } finally {
      add.disabled = false;
    }
  });

  el.append(h('p', {}, h('a', { href: '#/' }, '← All products'), p.category && ` · ${p.category}`),
    h('div.product', {},
      gallery(p),
      h('div', {},
        h('h1', { id: 'product-name' }, p.name),
        h('p.price', {}, money(p.price), p.compareAtPrice && h('span.was', {}, money(p.compareAtPrice))),
        p.availableQuantity > 0 ? h('p.stock', {}, `${p.availableQuantity} in stock`) : h('p.stock.out', {}, 'Sold out'),
        variantPicker(p),
        buy, message,
        p.description && h('p', {}, p.description),
        p.tags.length > 0 && h('p.count', {}, 'Tags: ' + p.tags.join(', ')))));
}

// variantPicker is where size and colour choices will go. Products have no
// variants yet; once Product.variants exists, render one <select> per
// option here, and add the chosen variant's id to the cart line instead of
// the product id.
function variantPicker() {
  return null;
}

// gallery shows the first image large and every image as a thumbnail that
// swaps it in. Image URLs are signed and expire: use them as given, and
// fetch the product again rather than keep them.
function gallery(p) {
  const main = image(p.images[0], p.name);
  const strip = p.images.length > 1 && h('div.strip', {}, p.images.map((img, i) => {
    const t = h('img', { src: img.url, alt: img.altText || p.name, 'aria-current': String(i === 0) });
    t.addEventListener('click', () => {
      main.src = img.url;
      strip.querySelectorAll('img').forEach((x) => x.setAttribute('aria-current', String(x === t)));
    });
    return t;
  }));
  return h('div.gallery', {}, main, strip);
}
