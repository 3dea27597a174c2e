output "app_vpc_id" {
  description = "The app VPC."
  value       = local.app_vpc_id
}

output "app_vpc_cidr" {
  description = "CIDR of the app VPC."
  value       = local.app_vpc_cidr
}

output "app_subnet_ids" {
  description = "Private subnets created in the app VPC (empty for an existing VPC)."
  value       = [for s in aws_subnet.app : s.id]
}

output "app_route_table_ids" {
  description = "App route tables that route to the endpoint VPC."
  value       = local.app_route_table_ids
}

output "endpoint_vpc_id" {
  description = "The endpoint VPC."
  value       = local.endpoint_vpc_id
}

output "endpoint_vpc_cidr" {
  description = "CIDR of the endpoint VPC."
  value       = local.endpoint_vpc_cidr
}

output "endpoint_region" {
  description = "Region of the endpoint VPC."
  value       = local.endpoint_region
}

output "peering_connection_id" {
  description = "The cross-region VPC peering connection."
  value       = aws_vpc_peering_connection.this.id
}

output "endpoint_security_group_id" {
  description = "Security group of the interface endpoints."
  value       = aws_security_group.endpoints.id
}

output "endpoint_ids" {
  description = "Interface endpoint id per service."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.id }
}

output "endpoint_network_interface_ids" {
  description = "ENI ids per service (their IPs are what bedrock-link serves)."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.network_interface_ids }
}

output "endpoint_dns_entries" {
  description = "DNS entries (name and hosted zone id) per service."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.dns_entry }
}

output "hosted_zone_ids" {
  description = "Private hosted zone id per service (PHZ mode only)."
  value       = { for k, z in aws_route53_zone.phz : k => z.zone_id }
}

output "app_gateway_endpoint_ids" {
  description = "Gateway endpoint id per service in the app VPC."
  value       = { for k, e in aws_vpc_endpoint.app_gateway : k => e.id }
}

output "resolver_source" {
  description = "A ready-made [[source]] block for bedrock-link's configuration."
  value = join("\n", [
    "[[source]]",
    "region = \"${local.endpoint_region}\"",
    "vpc_id = \"${local.endpoint_vpc_id}\"",
    "services = [${join(", ", [for k in sort(keys(var.services)) : "\"${k}\""])}]",
    "",
  ])
}

output "resolver_source_object" {
  description = "The same source as an object, for the resolver module's sources variable."
  value = {
    region   = local.endpoint_region
    vpc_id   = local.endpoint_vpc_id
    services = sort(keys(var.services))
  }
}
