# medbiz: one static binary; the rule packs and defaults are built into it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/medbiz ./cmd/medbiz

FROM gcr.io/distroless/static-debian12
WORKDIR /srv/medbiz
COPY --from=build /out/medbiz /usr/local/bin/medbiz
EXPOSE 1883 8083 8080
ENTRYPOINT ["medbiz", "serve"]
