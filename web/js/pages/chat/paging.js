// Older messages load as the reader scrolls up: when the "Load earlier messages"
// button (the page's cursor, kept by chat.js) comes within a screen of the top of
// the view, it is pressed; the button stays for keyboard and screen-reader users.
// Only the newest page is fetched on opening, so a conversation of thousands of
// messages opens as fast as a short one.

/** Watches `olderBox` in `scroller`; returns a function that stops watching. */
export function loadOlderOnScroll(scroller, olderBox) {
  let near = false;
  const pull = () => {
    const button = olderBox.querySelector('button[data-older]');
    if (!near || !button || button.disabled) return;
    button.dataset.auto = ''; // pressed for the reader: focus stays where it is
    button.click();
  };
  const io = new IntersectionObserver((entries) => {
    near = entries.some((e) => e.isIntersecting);
    pull();
  }, { root: scroller, rootMargin: '600px 0px 0px 0px' });
  io.observe(olderBox);
  // A new button (the next cursor) while still near the top: the page loaded did not fill
  // the view, so the next one is wanted too.
  const mo = new MutationObserver(() => requestAnimationFrame(pull));
  mo.observe(olderBox, { childList: true });
  return () => { io.disconnect(); mo.disconnect(); };
}
