// navigate moves to another page of the dashboard without a page load;
// app.js says how to draw one.

let draw = () => {};

export function setRenderer(fn) { draw = fn; }

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  draw();
}
