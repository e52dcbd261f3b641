// A product page: product(handle:) with its images, and "Add to cart".
import * as cart from './cart.js';
import { gql } from './graphql.js';
import { h, money } from './dom.js';
import { image } from './catalog.js';

const MONEY = 'amount currencyCode';
const QUERY = `query($handle: String!) { product(handle: $handle) {
  id handle name description category tags availableQuantity hasOnlyDefaultVariant
  price { ${MONEY} } compareAtPrice { ${MONEY} } images { url altText }
  options { name values }
  variants { id title availableQuantity price { ${MONEY} } compareAtPrice { ${MONEY} } selectedOptions { name value } }
} }`;

export default async function product(el, handle) {
  const { product: p } = await gql(QUERY, { handle });
  if (!p) {
    el.append(h('h1', {}, 'Product not found'), h('a', { href: '#/' }, 'Back to the catalog'));
    return;
  }
  const message = h('div');
  const price = h('p.price');
  const stock = h('p');
  const quantity = h('input', { id: 'quantity', type: 'number', min: 1, value: 1, 'aria-label': 'Quantity' });
  const add = h('button', { id: 'add-to-cart', type: 'submit' }, 'Add to cart');
  // chosen is the variant the shopper's option choices name; null when the
  // combination is not for sale. A product without options has one.
  let chosen = p.variants[0] || null;
  const show = () => {
    const v = chosen;
    price.replaceChildren(...(v ? [money(v.price), v.compareAtPrice && h('span.was', {}, money(v.compareAtPrice))] : ['Not available']).filter(Boolean));
    const n = v ? v.availableQuantity : 0;
    stock.className = n > 0 ? 'stock' : 'stock out';
    stock.textContent = n > 0 ? `${n} in stock` : (v ? 'Sold out' : 'This combination is not available');
    quantity.max = String(Math.max(1, n));
    add.disabled = n < 1;
  };
  const picker = variantPicker(p, (v) => { chosen = v; show(); });
  show();
  const buy = h('form.buy', {}, quantity, add);
  buy.addEventListener('submit', async (e) => {
    e.preventDefault();
    add.disabled = true;
    try {
      // The quantity goes to the server as typed; the server checks it
      // against stock and answers with a userError, not a crash.
      const r = await cart.add({ variantId: chosen.id }, Number(quantity.value));
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
        price, stock, picker,
        buy, message,
        p.description && h('p', {}, p.description),
        p.tags.length > 0 && h('p.count', {}, 'Tags: ' + p.tags.join(', ')))));
}

// variantPicker renders one <select> per option and calls onChange with
// the variant whose values match the choices (null when that combination
// is not for sale). A product without options needs no picker.
function variantPicker(p, onChange) {
  if (p.hasOnlyDefaultVariant || p.options.length === 0) return null;
  const first = p.variants[0];
  const selects = p.options.map((o) => {
    const current = first && first.selectedOptions.find((s) => s.name === o.name);
    const sel = h('select', { name: o.name, 'aria-label': o.name },
      o.values.map((v) => h('option', { value: v, selected: current && current.value === v }, v)));
    sel.addEventListener('change', () => onChange(match()));
    return h('label', {}, o.name + ' ', sel);
  });
  const match = () => {
    const want = selects.map((l) => l.querySelector('select'));
    return p.variants.find((v) => want.every((s) => v.selectedOptions.some((o) => o.name === s.name && o.value === s.value))) || null;
  };
  return h('div.options', {}, selects);
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
