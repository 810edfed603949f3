// Starts Swagger UI on the API's own OpenAPI document (served by the platform, no CDN).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // no badge fetched from validator.swagger.io
  });
});
