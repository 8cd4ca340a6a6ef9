// The admin page's only script (its Content-Security-Policy allows no inline code): forms with a
// data-confirm attribute ask before they submit.
document.addEventListener('submit', (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.getAttribute('data-confirm') : null;
  if (question && !window.confirm(question)) event.preventDefault();
});
