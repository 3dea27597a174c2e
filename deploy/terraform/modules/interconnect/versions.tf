terraform {
  # 1.5: check blocks and the for_each/precondition forms used here. The provider range admits
  # the 5.x line (5.100.0 is what the tests run) and 6.x; nothing here needs the provider to
  # know a region by name (regions are inputs; see app_region and endpoint_region).
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source                = "hashicorp/aws"
      version               = ">= 5.40.0, < 7.0.0"
      configuration_aliases = [aws.app, aws.endpoint]
    }
  }
}
