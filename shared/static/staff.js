// Little JavaScript: "add another" for repeated form parts (children), built from a <template>.
// Without JavaScript the form still works with the rows it was rendered with.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-from]");
  if (!button) return;
  const template = document.getElementById(button.dataset.addFrom);
  const target = document.getElementById(button.dataset.addTo);
  const index = target.querySelectorAll("[data-row]").length;
  const html = template.innerHTML.replaceAll("__i__", String(index)).replaceAll("__n__", String(index + 1));
  target.insertAdjacentHTML("beforeend", html);
  target.querySelector("[data-row]:last-child input")?.focus();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-remove-row]");
  if (button) button.closest("[data-row]").remove();
});
document.addEventListener("change", (event) => {
  // The spouse part is shown only when the household has a spouse.
  if (event.target.id === "has-spouse") {
    document.getElementById("spouse-fields").hidden = !event.target.checked;
  }
});
