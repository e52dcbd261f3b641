// Stripe Elements, used only when the service has a publishable key
// (/shop/config.json names it). Stripe.js is loaded then and only then;
// without a key the shop loads nothing from another origin.
import { h } from './dom.js';

let stripeJS = null;

// loadStripe adds Stripe's script once and returns a Stripe instance.
function loadStripe({ publishableKey, scriptUrl }) {
  stripeJS ??= new Promise((resolve, reject) => {
    const s = h('script', { src: scriptUrl });
    s.addEventListener('load', () => resolve(window.Stripe(publishableKey)));
    s.addEventListener('error', () => reject(new Error('Stripe.js could not be loaded')));
    document.head.append(s);
  });
  return stripeJS;
}

// payWithStripe mounts the Payment Element for the order's PaymentIntent
// (its client secret comes from checkout or Order.paymentClientSecret)
// and confirms it when the shopper pays.
export async function payWithStripe(el, config, clientSecret, returnUrl) {
  const stripe = await loadStripe(config);
  const elements = stripe.elements({ clientSecret });
  const mount = h('div');
  const message = h('div');
  const pay = h('button', {}, 'Pay now');
  const form = h('form.panel', {}, h('h2', {}, 'Payment'), mount, message, h('div.actions', {}, pay));
  el.append(form);
  elements.create('payment').mount(mount);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    pay.disabled = true;
    // Cards that need 3-D Secure show Stripe's dialog here; methods that
    // redirect come back to returnUrl, this same order page.
    const { error } = await stripe.confirmPayment({ elements, redirect: 'if_required', confirmParams: { return_url: returnUrl } });
    pay.disabled = false;
    message.replaceChildren(error
      ? h('p.notice', {}, error.message)
      : h('p.notice.info', {}, 'Payment sent. The status below turns PAID when Stripe confirms it to the shop.'));
  });
}
