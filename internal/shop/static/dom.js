// Small DOM helpers. Every text from the API goes in as a text node, never
// as HTML: a product named "<b>Sale</b>" shows those characters and runs
// nothing.

// h builds an element: h('a.card', { href: '#/' }, 'text', child, …).
// Attributes starting with "on" are listeners; null and false are skipped.
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el) el[k] = v;
    else el.setAttribute(k, v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

// money prints a Money { amount, currencyCode }. The amount is a decimal
// string with the currency's minor digits. It is only ever shown, never
// computed with (totals come from the server), and it is passed to Intl as
// the string, so no float rounds it.
export function money(m) {
  if (!m) return '';
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: m.currencyCode }).format(m.amount);
}

// form reads a form's named fields into an object.
export function formValues(form) {
  return Object.fromEntries(new FormData(form));
}
