# nginx.Dockerfile: Debian's nginx and its njs module with the mmq cluster configuration (nginx.conf,
# the two mmq-*.conf files it includes and mmq.js). Built by compose.yaml from this directory.
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx libnginx-mod-http-js \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d

COPY nginx.conf mmq-http.conf mmq-server.conf mmq.js /etc/nginx/
EXPOSE 8080
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
