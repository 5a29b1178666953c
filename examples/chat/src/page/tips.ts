/**
 * The "Try this" panel is a `<details>` dropdown: it opens over the messages and closes again
 * on Escape or a click anywhere outside it, so it never takes room from the chat.
 */
export function setUpTips(tips: HTMLDetailsElement): void {
  document.addEventListener("click", (event) => {
    if (tips.open && !tips.contains(event.target as Node)) tips.open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !tips.open) return;
    tips.open = false;
    tips.querySelector("summary")?.focus();
  });
}
