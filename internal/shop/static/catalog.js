// The catalog: products(filter, sortKey, reverse) with cursor pagination.
// The filters live in the URL (#/?search=…&category=…), so Back and a
// shared link show the same list.
import { gql } from './graphql.js';
import { h, money } from './dom.js';

const MONEY = 'amount currencyCode';
const QUERY = `query($first: Int, $after: String, $filter: ProductFilter, $sortKey: ProductSortKey, $reverse: Boolean) {
  products(first: $first, after: $after, filter: $filter, sortKey: $sortKey, reverse: $reverse) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id handle name availableQuantity price { ${MONEY} } compareAtPrice { ${MONEY} } images { url altText } } }
  }
}`;

// Sort choices: a sortKey and whether to reverse it. Without a sortKey the
// service lists newest first, or by relevance when searching.
const SORTS = {
  '': ['Best match / newest'],
  price: ['Price: low to high', 'PRICE', false],
  'price-desc': ['Price: high to low', 'PRICE', true],
  name: ['Name', 'NAME', false],
  popular: ['Best selling', 'BEST_SELLING', false],
};

export default async function catalog(el, params) {
  const filter = {
    search: params.get('search') || null,
    category: params.get('category') || null,
    // Decimal strings, checked by the service: a bad one is a clear error.
    minPrice: params.get('min') || null,
    maxPrice: params.get('max') || null,
  };
  const sort = SORTS[params.get('sort')] ? params.get('sort') : '';
  const [, sortKey = null, reverse = false] = SORTS[sort];

  const { categories } = await gql('{ categories }');
  const form = filters(params, categories, sort);
  const grid = h('div.grid');
  const count = h('p.count');
  const more = h('button.secondary.more', { type: 'button', hidden: true }, 'Show more');
  el.append(h('h1', {}, filter.search ? `Results for “${filter.search}”` : filter.category || 'All products'), form, count, grid, more);

  // Cursor pagination: ask for the page after the last cursor seen.
  let after = null;
  async function page() {
    more.disabled = true;
    const { products } = await gql(QUERY, { first: 12, after, filter, sortKey, reverse });
    count.textContent = `${products.totalCount} product${products.totalCount === 1 ? '' : 's'}`;
    grid.append(...products.edges.map((e) => card(e.node)));
    after = products.pageInfo.endCursor;
    more.hidden = !products.pageInfo.hasNextPage;
    more.disabled = false;
  }
  more.addEventListener('click', () => page().catch((e) => count.replaceChildren(h('span.notice', {}, e.message))));
  try {
    await page();
  } catch (e) {
    count.replaceChildren(h('span.notice', {}, e.message)); // e.g. a malformed price
  }
}

// filters is the category, price and sort form; it rewrites the hash.
function filters(params, categories, sort) {
  const field = (label, input) => h('label', {}, label, input);
  const form = h('form.filters', {},
    field('Category', h('select', { name: 'category' },
      h('option', { value: '' }, 'All'),
      categories.map((c) => h('option', { value: c, selected: c === params.get('category') }, c)))),
    field('Min price', h('input', { name: 'min', type: 'number', min: 0, step: '0.01', value: params.get('min') || '' })),
    field('Max price', h('input', { name: 'max', type: 'number', min: 0, step: '0.01', value: params.get('max') || '' })),
    field('Sort', h('select', { name: 'sort' },
      Object.entries(SORTS).map(([v, [label]]) => h('option', { value: v, selected: v === sort }, label)))),
    h('button', {}, 'Apply'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (params.get('search')) next.set('search', params.get('search'));
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.hash = '#/?' + next;
  });
  return form;
}

export function image(img, alt) {
  return img ? h('img.thumb', { src: img.url, alt: img.altText || alt, loading: 'lazy' }) : h('div.thumb.none', { 'aria-hidden': 'true' }, '◇');
}

function card(p) {
  return h('a.card', { href: `#/product/${encodeURIComponent(p.handle)}`, 'data-handle': p.handle },
    image(p.images[0], p.name),
    h('div.body', {},
      h('span.name', {}, p.name),
      h('span.price', {}, money(p.price), p.compareAtPrice && h('span.was', {}, money(p.compareAtPrice))),
      p.availableQuantity > 0 ? h('span.stock', {}, 'In stock') : h('span.stock.out', {}, 'Sold out')));
}
