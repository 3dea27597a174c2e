output "resolver_source" {
  description = "The [[source]] block the daemon runs with."
  value       = module.interconnect.resolver_source
}

output "app_route_table_ids" {
  description = "The app route tables that got a route to the endpoint VPC."
  value       = module.interconnect.app_route_table_ids
}
