// Starts Swagger UI on labd's own OpenAPI document. Kept out of index.html
// so that the page needs no inline script (Content-Security-Policy:
// script-src 'self').
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Offline: never send the document to the public validator service.
    validatorUrl: null,
    displayRequestDuration: true,
    showExtensions: false,
    tryItOutEnabled: false,
  });
});
