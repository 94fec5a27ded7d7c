// The API explorer: Swagger UI over this service's openapi.yaml. Requests made with
// "Try it out" go to the origin that served this page (the service itself: the page's
// Content-Security-Policy allows no other), whatever `servers` the document names.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#explorer",
    deepLinking: true,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      var target = new URL(request.url, window.location.href);
      request.url = window.location.origin + target.pathname + target.search;
      return request;
    },
  });
});
