output "dns_server_ips" {
  description = "The resolver's fixed addresses (also in the VPC's DHCP option set)."
  value       = module.resolver.dns_server_ips
}

output "endpoint_ids" {
  description = "Interface endpoint per service."
  value       = module.interconnect.endpoint_ids
}

output "peering_connection_id" {
  description = "The cross-region peering."
  value       = module.interconnect.peering_connection_id
}

output "resolver_config" {
  description = "The configuration bedrock-link runs with."
  value       = module.resolver.config
}
